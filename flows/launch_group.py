"""``launch_group``: a bot group launched as a Prefect flow (digest §9.3; seed ``000_…`` "Launch Sequence").

Phases, each a task or a subflow visible in the UI:

0. reconcile instance-lock slots against live flow runs (a server restart leaks held slots), then
   **resolve pools** (fail fast) and, if asked, **refresh pools**;
1. **validate routine** (sub-routines, sentries, templates, config values);
2. **acquire instances** in preference order until ``bots`` are held: lock (``instance:<host>:<serial>``, a global
   concurrency limit of 1) *then* start + wait ready, so two launches never plan the same instance (an instance
   of another host is locked here and started there, by its bot);
   ``on_conflict``: skip | abort | cancel (the other run's bot) | ask (the flow run pauses; the operator picks
   skip/cancel/abort in the UI form);
3. **one ``run_bot`` async subflow per bot**, each starting ``stagger`` seconds after the previous one started,
   running concurrently; a bot whose instance is on another host runs on that host's worker (``run-bot``
   deployment, :mod:`adapters.dispatch`), still a subflow of the launch;
4. with ``stop_instances: started`` (the default), the instances this launch had to start are stopped again.

It ends with a table artifact (bot, instance, account, state, restarts, counters) and returns a
:class:`LaunchResult`. Cancelling the launch run (or a ``stop`` command, :mod:`flows.control`) cancels every bot.

This flow only sequences the phases and fans out; each phase lives in :mod:`adapters`: the launch's database rows
(:mod:`adapters.launch_rows`), acquisition with its conflict form (:mod:`adapters.acquire`), the fan-out
scheduler (:mod:`adapters.fanout`), remote dispatch (:mod:`adapters.dispatch`), the zombie clean-up
(:mod:`adapters.automations`) and the result's records (:mod:`adapters.results`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import Any
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import State
from prefect.states import Cancelled, Failed

from adapters import pictures
from adapters.acquire import Acquirer, ConflictChoice, InstanceTasks
from adapters.automations import ensure_zombie_automations
from adapters.fanout import run_bots
from adapters.farm import launch_ended, launch_started
from adapters.heal import Healer
from adapters.launch_rows import close_launch, open_launch
from adapters.locks import reconcile
from adapters.registry import LAUNCH_TAG, artifact_key, group_tag, is_cancelled
from adapters.reloading import LiveReload
from adapters.resources import LaunchLoad
from adapters.results import LaunchResult, bot_record, table_rows
from adapters.runtime import LaunchRuntime, current_flow_run
from emufleet import tracing
from emufleet.bot import BotSpec, load_assets
from emufleet.control import ControlPlane
from emufleet.errors import OrchestrationError
from emufleet.groups import BotState, BotStatus, GroupDefinition, GroupStore, LaunchOverrides
from emufleet.hosts import HostStore, InstanceId, this_host
from emufleet.pools import AccountBudget
from emufleet.reload.group import LiveGroup
from flows.run_bot import run_bot
from tasks.phases import (
    backend_of,
    check_instances,
    instance_of,
    refresh_pools,
    resolve_pools,
    start_instance,
    stop_instance,
    validate_routine,
)

__all__ = ["ConflictChoice", "LaunchResult", "launch_group"]

_TASKS = InstanceTasks(instance_of=instance_of, start=start_instance, stop=stop_instance, backend_of=backend_of)


@flow(name="launch-group", flow_run_name="launch-{group}", persist_result=False, log_prints=False,
      on_completion=[launch_ended], on_failure=[launch_ended], on_cancellation=[launch_ended],
      on_crashed=[launch_ended])
async def launch_group(group: str, overrides: LaunchOverrides | None = None) -> LaunchResult | State:
    """Launch the group ``group`` (a definition in ``groups/``) with optional per-launch ``overrides``.

    Raises (the flow run fails with the message): ``GroupValidationError`` (unknown or invalid group, or overrides
    that make it invalid: the message names the group and its errors), ``PoolValidationError`` (unknown pool),
    ``RoutineValidationError``/``RoutineError`` (invalid routine), ``InstanceConflictError`` (``on_conflict:
    abort``), ``OrchestrationError`` (no instance could be acquired), ``DatabaseError`` (the shared database).
    """
    logger = get_run_logger()
    run_id = current_flow_run().id
    # file reads off the loop: a console-started launch shares the console's loop (issue 23 item 11)
    definition = (await asyncio.to_thread(GroupStore().get, group)).with_overrides(overrides)
    launch = definition.launch
    async with get_client() as client:
        # the run's tags as created (nothing else writes them before this flow does)
        await client.update_flow_run(run_id, tags=sorted({*current_flow_run().tags, "emufleet", LAUNCH_TAG,
                                                          group_tag(group)}))
        # needed once bots run (should this process die then), not by the phases: made meanwhile
        zombie = asyncio.get_running_loop().create_task(ensure_zombie_automations(logger))
        # The command channel and max_accounts (launch-wide on every host): rows of the shared database, found by
        # the launch's run id. Phase 0 and 1 are independent of them and of each other: all run at once; the first
        # failure in phase order is the one raised.
        opening = asyncio.ensure_future(open_launch(run_id, budget=bool(definition.pools),
                                                    max_accounts=definition.max_accounts))
        try:
            with tracing.span("emufleet.launch.prepare", _traced(definition.name, run_id)):
                checked, reset, _, assets, (plane, budget) = await _all(
                    asyncio.to_thread(check_instances, definition, this_host()) if launch.validate_emulators
                    else _none(),
                    _reconcile(client, definition, opening),
                    _pools(definition),
                    asyncio.to_thread(validate_routine, definition.routine, definition.routine_config,
                                      validate_templates=launch.validate_templates) if launch.validate_routine
                    else asyncio.to_thread(load_assets, validate_templates=launch.validate_templates),
                    opening)
        except BaseException:
            if opening.done() and not opening.cancelled() and opening.exception() is None:
                plane, budget = opening.result()
                await close_launch(client, plane, run_id, budget)
                plane.dispose()
            raise
        try:
            live = LiveGroup(definition, overrides)  # the group as its bots take it at each attempt (hot reload)
            return await _launch(client, run_id, live, plane, assets, checked, reset, zombie)
        finally:
            await close_launch(client, plane, run_id, budget)
            plane.dispose()


async def _launch(client: PrefectClient, run_id: UUID, live_group: LiveGroup, plane: ControlPlane, assets: Any,
                  checked: dict[str, str] | None, reset: list[InstanceId], zombie: asyncio.Task[None]
                  ) -> LaunchResult | State:
    """Phases 2–4 once the checks passed: acquire, run the bots, stop what the launch started, report."""
    logger = get_run_logger()
    definition = live_group.definition  # as launched: instances, bots, pools, options (edits: the next launch)
    group = definition.name
    if checked is not None:
        logger.info("instances: %s", ", ".join(f"{k} {v}" for k, v in checked.items()))
    if reset:
        logger.warning("reset leaked instance locks (no live flow run held them): %s", ", ".join(map(str, reset)))
    live = LiveReload(assets, run_id, group=live_group).start()  # the watched data files (adapters/reloading.py)
    runtime = LaunchRuntime(run_id, control=plane, assets=live.assets)
    runtime.on_attempt, live.pools = live.at_attempt, runtime.pools
    traced = _traced(group, run_id)
    if definition.pools:  # the launch history lives beside the accounts (docs/farm.md)
        await launch_started(run_id, group, definition.bots, host=this_host())
    acquirer = Acquirer(client, run_id, definition, runtime, _TASKS)
    healer: Healer | None = None
    states: list[State | None] = []
    shed: dict[int, str] = {}  # bot index → why the host had no room for it
    try:
        with tracing.span("emufleet.launch.acquire", traced):
            await acquirer.run()
        if not acquirer.acquired:
            why = "; ".join(acquirer.errors) or "all skipped"
            raise OrchestrationError(f"group {group!r}: no instance acquired ({why})")
        if len(acquirer.acquired) < definition.bots:
            logger.warning("launching %d of %d bots", len(acquirer.acquired), definition.bots)
        await zombie
        host = await asyncio.to_thread(HostStore().get, this_host())  # a file read: off the loop
        async with LaunchLoad(host, group, run_id) as load:  # emufleet.resources
            runtime.load = live.load = load
            with tracing.span("emufleet.launch.bots", traced):
                healer = Healer(client, run_id, definition, runtime, acquirer)
                states = await run_bots(client, run_id, definition, runtime, acquirer, _bot_flow, healer)
        shed = load.shed
    finally:
        live.stop()
        await runtime.close()
        with tracing.span("emufleet.launch.stop_instances", traced):
            await acquirer.stop_started()
    rows = [await bot_record(group, instance, i, state, acquirer.remote_status.get(i)) if i not in shed else
            BotStatus(group=group, bot=i, instance=instance, state=BotState.STOPPED, error=f"shed: {shed[i]}")
            for i, ((instance, _), state) in enumerate(zip(acquirer.acquired, states, strict=True))]
    run_ids = {i: s.state_details.flow_run_id if s else None for i, s in enumerate(states)}
    healed = healer.healed if healer is not None else {}
    for bot, instance, state in healer.ended() if healer is not None else []:  # new bots after failed ones
        rows.append(await bot_record(group, instance, bot, state))
        run_ids[bot] = state.state_details.flow_run_id if state else None
    result = LaunchResult(group=group, flow_run_id=run_id, requested=definition.bots,
                          launched=sum(s is not None for s in states), bots=rows, conflicts=list(acquirer.conflicts),
                          skipped=list(acquirer.skipped), errors=acquirer.errors, reset_locks=list(reset),
                          healed=healed)
    await acreate_table_artifact(
        table_rows(rows), key=artifact_key("launch", group),
        description=f"Group **{group}**: {result.launched}/{result.requested} bots, routine `{definition.routine}`")
    await pictures.send_digest(group, run_id, rows, run_ids)
    return await _final(client, run_id, plane, acquirer, result)


def _traced(group: str, run_id: UUID) -> dict[str, str]:
    """The attributes of a launch's phase spans (emufleet.tracing)."""
    return {"emufleet.group": group, "prefect.flow_run.id": str(run_id)}


async def _final(client: PrefectClient, run_id: UUID, plane: ControlPlane, acquirer: Acquirer,
                 result: LaunchResult) -> LaunchResult | State:
    """The launch's final state: *Cancelled* when it was stopped, or when every bot was stopped without the
    launch being stopped (*Failed* when other launches took their instances, naming them); *Failed* when a bot
    failed; else *Completed* with ``result``."""
    group = result.group
    failed = [r for r in result.final_bots if r.state == BotState.FAILED.value]
    why = f"{len(failed)} of {len(result.final_bots)} bots failed"
    if acquirer.runtime.launch_cancelled or await is_cancelled(client, run_id):  # before Failed: see is_cancelled
        return Cancelled(message=f"group {group!r} stopped" + (f" ({why})" if failed else ""), data=result)
    if failed:
        return Failed(message=f"group {group!r}: {why}", data=result)
    if result.bots and all(r.state == BotState.STOPPED.value for r in result.bots):
        shed = [r.error for r in result.bots if r.error and r.error.startswith("shed: ")]
        if len(shed) == len(result.bots):  # the host had no room for any (adapters/resources.py)
            return Cancelled(message=f"group {group!r}: every bot shed ({shed[0].removeprefix('shed: ')})",
                             data=result)
        takers = await _takers(plane, run_id, [instance for instance, _ in acquirer.acquired], acquirer.began)
        if takers:
            return Failed(message=f"group {group!r}: instances taken by launch {', '.join(takers)}", data=result)
        return Cancelled(message=f"group {group!r}: every bot was stopped", data=result)
    return result


async def _takers(plane: ControlPlane, run_id: UUID, instances: list[InstanceId], since: datetime) -> list[str]:
    """The other launches that claimed any of ``instances`` since ``since`` (naive UTC; they took them over, and
    may be done with them already)."""

    def read() -> list[str]:
        found = {launch for i in instances for launch in plane.claims.claimer_launches(i, released_since=since)}
        return sorted(found - {str(run_id)})

    return await asyncio.to_thread(read)


async def _bot_flow(spec: BotSpec) -> State:
    return await run_bot(spec, return_state=True)


async def _all(*steps: Awaitable[Any]) -> list[Any]:
    """Await ``steps`` concurrently; once all are done, raise the first one's error (in argument order), if any."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _reconcile(client: PrefectClient, definition: GroupDefinition,
                     opening: asyncio.Future[tuple[ControlPlane, AccountBudget | None]]) -> list[InstanceId]:
    """Once the claims are readable (``opening``), reset the leaked lock slots of the group's instances
    (:func:`adapters.locks.reconcile`)."""
    plane, _ = await opening
    return await reconcile(client, plane.claims, [instance_of(definition, p) for p in definition.placements()])


async def _pools(definition: GroupDefinition) -> None:
    """Resolve the group's pools (fail fast), then refresh them if the launch asks to."""
    if definition.pools:
        await asyncio.to_thread(resolve_pools, definition.pools)
        if definition.launch.refresh_pools:
            await asyncio.to_thread(refresh_pools, definition.pools)


async def _none() -> None:
    return None
