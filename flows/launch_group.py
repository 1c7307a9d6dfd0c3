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
:class:`LaunchResult`. Cancelling the launch run cancels every bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any, Literal
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.artifacts import acreate_table_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import State
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput
from prefect.states import Cancelled, Failed
from pydantic import BaseModel, Field

from adapters.automations import apply_automations, default_zombie_after, emufleet_automations
from adapters.budgets import close_budget, open_budget
from adapters.dispatch import run_remote_bot
from adapters.farm import launch_ended, launch_started
from adapters.locks import InstanceLock, claim, holders, limit_name, reconcile, release, try_acquire, unclaim
from adapters.registry import artifact_key, bot_status, control_variable, group_tag, is_cancelled, request_cancel
from adapters.runtime import LaunchRuntime, current_flow_run, current_runtime
from emufleet.bot import BotResult, BotSpec, load_assets
from emufleet.errors import InstanceConflictError, OrchestrationError
from emufleet.groups import (
    TERMINAL_STATES,
    BotState,
    BotStatus,
    GroupDefinition,
    GroupStore,
    LaunchOverrides,
    OnConflict,
)
from emufleet.hosts import Host, HostStore, InstanceId, Placement, this_host
from flows.run_bot import bot_tags, run_bot
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

__all__ = ["BotRow", "ConflictChoice", "LaunchResult", "launch_group"]

CREATE_WINDOW = 3  # bot flow runs being created at once
REMOTE_START_S = 60.0  # a remote bot's run must be picked up by its host's worker within connect timeout + this
CREATE_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 10.0  # stagger 0: once every bot runs, how long the first ones wait for the last to be ready
LAUNCH_TAG = "emufleet-launch"
BOT_TAG = "emufleet-bot"


class ConflictChoice(RunInput):
    """The operator's answer when ``on_conflict: ask`` pauses a launch (a form in the Prefect UI)."""

    action: Literal["skip", "cancel", "abort"] = "skip"


class BotRow(BaseModel):
    """One line of the launch's table: a bot and how it ended."""

    bot: int
    instance: str
    account: str | None = None
    state: str
    restarts: int = 0
    accounts_completed: int = 0
    accounts_failed: int = 0
    steps: int = 0
    steps_per_s: float = 0.0
    wall_s: float = 0.0
    step_s: float = 0.0
    engine_s: float = 0.0
    recoveries: dict[str, int] = Field(default_factory=dict)  # by rung of the recovery ladder
    captures: int = 0  # frames captured (recognition rounds)
    gave_up: str | None = None  # why, when the bot gave up (failure budget spent, no rung left)
    error: str | None = None


class LaunchResult(BaseModel):
    """What a launch did (digest §9.3 ``LaunchResult``): counts, bots, conflicts, skipped instances, errors."""

    group: str
    flow_run_id: UUID
    requested: int
    launched: int
    bots: list[BotRow] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    reset_locks: list[str] = Field(default_factory=list)

    @property
    def success(self) -> bool:
        """Every bot completed (none failed, none stopped)."""
        return self.launched > 0 and all(b.state == BotState.COMPLETED.value for b in self.bots)


def _definition(group: str, overrides: LaunchOverrides | None) -> GroupDefinition:
    try:
        return GroupStore().get(group).with_overrides(overrides)
    except ValueError as exc:  # pydantic: the overrides made the definition invalid
        raise OrchestrationError(f"group {group!r}: overrides rejected: {exc}") from exc


class _Acquirer:
    """Phase 2: walk the preference list, lock, resolve conflicts, start the instances."""

    def __init__(self, client: PrefectClient, run_id: UUID, definition: GroupDefinition,
                 runtime: LaunchRuntime) -> None:
        self.client = client
        self.run_id = run_id
        self.definition = definition
        self.runtime = runtime
        self.acquired: list[tuple[InstanceId, InstanceLock]] = []
        self.indexes: dict[InstanceId, int] = {}  # instance → backend index (for rung restart_instance)
        self.remote: dict[InstanceId, Host] = {}  # instances of other hosts: their bots run on those hosts' workers
        self.remote_status: dict[int, BotStatus] = {}  # bot index → a remote bot's last status
        self.started: list[tuple[Placement, InstanceId]] = []  # the instances this launch started
        self.conflicts: list[str] = []
        self.skipped: list[str] = []
        self.errors: list[str] = []
        self.logger = get_run_logger()

    async def run(self) -> None:
        """Walk the preference list in batches of the bots still missing: claim a batch in one write, take its
        locks concurrently, resolve its conflicts in order, start its local instances concurrently (the
        ``emulator-launch`` limit still lets one emulator process launch at a time); repeat until ``bots`` are held
        or the list is done. The bots keep the preference order."""
        pending = list(self.definition.placements())
        while pending and len(self.acquired) < self.definition.bots:
            take = self.definition.bots - len(self.acquired)
            batch = [(place, instance_of(self.definition, place)) for place in pending[:take]]
            pending = pending[take:]
            for place, instance in batch:
                if instance.host != this_host():
                    self.remote[instance] = HostStore().get(instance.host)
                if isinstance(place.ref, int):
                    self.indexes[instance] = place.ref
            # claim first: reconcile never frees a lock being taken
            await claim(self.client, self.run_id, *(instance for _, instance in batch))
            locks = await asyncio.gather(*(try_acquire(self.client, instance, holder=self.run_id)
                                           for _, instance in batch))
            held: list[tuple[Placement, InstanceId, InstanceLock]] = []
            for (place, instance), lock in zip(batch, locks, strict=True):
                if lock is None:
                    lock = await self.conflict(instance, self.definition.launch.on_conflict)
                    if lock is None:
                        await unclaim(self.client, self.run_id, instance)
                        continue
                self.runtime.keeper.add(lock)
                held.append((place, instance, lock))
            ready = await asyncio.gather(*(self._ready(place, instance, lock) for place, instance, lock in held))
            self.acquired.extend((instance, lock) for (_, instance, lock), ok in zip(held, ready, strict=True) if ok)

    async def _ready(self, place: Placement, instance: InstanceId, lock: InstanceLock) -> bool:
        """Start a locked local instance and wait until it is ready (a remote one is started on its host, by its
        bot); ``False`` (lock dropped, error collected: digest §9.3 step 4) when it cannot be started."""
        if instance in self.remote:
            return True
        try:
            ready = await start_instance(self.definition, place, self.definition.launch.emulator_timeout)
        except Exception as exc:  # collected, not fatal
            self.errors.append(f"instance {instance}: {exc}")
            self.logger.warning("instance %s not started: %s", instance, exc)
            await self.drop(lock)
            return False
        if ready.started:
            self.started.append((place, instance))
        return True

    async def stop_started(self) -> None:
        """``stop_instances: started``: stop the instances this launch started, once its bots are done.

        Each is locked again first: an instance another launch took meanwhile keeps running.
        """
        if self.definition.launch.stop_instances != "started":
            return
        for place, instance in self.started:
            lock = await try_acquire(self.client, instance, holder=self.run_id)
            if lock is None:
                self.logger.info("instance %s is in use by another launch: left running", instance)
                continue
            try:
                await stop_instance(self.definition, place)
                self.logger.info("stopped instance %s (this launch started it)", instance)
            except Exception as exc:  # the launch's result stands; say what was left behind
                self.logger.warning("instance %s not stopped: %s", instance, exc)
            finally:
                await release(self.client, lock)

    async def drop(self, lock: InstanceLock) -> None:
        self.runtime.keeper.discard(lock.instance)
        await release(self.client, lock)
        await unclaim(self.client, self.run_id, lock.instance)

    async def conflict(self, instance: InstanceId, policy: OnConflict) -> InstanceLock | None:
        self.conflicts.append(instance.key)
        others = await holders(self.client, instance, exclude=[self.run_id])
        who = ", ".join(f"{r.name} ({r.id})" for r in others) or "a flow run that ended less than a minute ago"
        self.logger.warning("instance %s is locked by %s; on_conflict=%s", instance, who, policy.value)
        action = policy.value
        if policy is OnConflict.ASK:
            choice = await apause_flow_run(
                wait_for_input=ConflictChoice.with_initial_data(
                    description=f"Instance **{instance}** is in use by {who}. Skip it, cancel the other bot, "
                                "or abort this launch?", action="skip"),
                timeout=int(self.definition.launch.ask_timeout), poll_interval=1,
                key=artifact_key("conflict", instance.key))
            action = choice.action
            self.logger.info("operator chose %r for instance %s", action, instance)
        if action == "skip":
            self.skipped.append(instance.key)
            return None
        if action == "abort":
            raise InstanceConflictError(f"instance {instance} is locked by {who} (on_conflict: abort)")
        bots = [r for r in others if BOT_TAG in r.tags] or others
        for run in bots:
            await request_cancel(self.client, run.id, f"instance {instance} taken by group "
                                                      f"{self.definition.name!r} (on_conflict: cancel)")
        deadline = asyncio.get_running_loop().time() + self.definition.launch.emulator_timeout
        while asyncio.get_running_loop().time() < deadline:
            lock = await try_acquire(self.client, instance, holder=self.run_id)
            if lock is not None:
                return lock
            await asyncio.sleep(0.25)
        self.skipped.append(instance.key)
        self.errors.append(f"instance {instance}: still locked after cancelling {who}")
        return None


async def _row(instance: InstanceId, bot: int, state: State | None, status: BotStatus | None = None) -> BotRow:
    """A bot's line from its final state's ``BotResult`` (in-process bots), else from ``status`` (a remote bot's
    last status labels: its result stays in its own process)."""
    serial = instance.key
    result = None
    if state is not None:
        with contextlib.suppress(Exception):
            data = await state.aresult(raise_on_failure=False)
            result = data if isinstance(data, BotResult) else None
    if result is None and status is not None:
        kind = status.state
        if kind not in TERMINAL_STATES:  # its process died (Crashed by the zombie clean-up) before it said so
            kind = _final_state(state)
        return BotRow(bot=bot, instance=serial, account=status.account, state=kind.value,
                      restarts=status.restarts, accounts_completed=status.accounts_completed,
                      accounts_failed=status.accounts_failed, steps=status.steps_done,
                      error=status.error or (state.message if state is not None and not state.is_completed() else None))
    if result is None:
        return BotRow(bot=bot, instance=serial, state=_final_state(state).value,
                      error=state.message if state else "not started")
    s = result.status
    return BotRow(bot=bot, instance=serial, account=s.account, state=s.state.value, restarts=s.restarts,
                  accounts_completed=s.accounts_completed, accounts_failed=s.accounts_failed, steps=s.steps_done,
                  steps_per_s=round(result.steps_per_s, 3), wall_s=result.wall_s, step_s=result.step_s,
                  engine_s=result.engine_s, recoveries=result.recoveries, captures=result.captures,
                  gave_up=result.gave_up, error=result.gave_up or s.error)


def _final_state(state: State | None) -> BotState:
    """A bot's end as its run's final Prefect state says (*Crashed*: failed)."""
    if state is not None and state.is_cancelled():
        return BotState.STOPPED
    return BotState.COMPLETED if state is not None and state.is_completed() else BotState.FAILED


@flow(name="launch-group", flow_run_name="launch-{group}", persist_result=False, log_prints=False,
      on_completion=[launch_ended], on_failure=[launch_ended], on_cancellation=[launch_ended],
      on_crashed=[launch_ended])
async def launch_group(group: str, overrides: LaunchOverrides | None = None) -> LaunchResult | State:
    """Launch the group ``group`` (a definition in ``groups/``) with optional per-launch ``overrides``.

    Raises (the flow run fails with the message): ``GroupValidationError`` (unknown or invalid group),
    ``PoolValidationError`` (unknown pool), ``RoutineValidationError``/``RoutineError`` (invalid routine),
    ``InstanceConflictError`` (``on_conflict: abort``), ``OrchestrationError`` (no instance could be acquired).
    """
    logger = get_run_logger()
    run_id = current_flow_run().id
    definition = _definition(group, overrides)
    launch = definition.launch
    async with get_client() as client:
        # the run's tags as created (nothing else writes them before this flow does)
        await client.update_flow_run(run_id, tags=sorted({*current_flow_run().tags, "emufleet", LAUNCH_TAG,
                                                          group_tag(group)}))
        # needed once bots run (should this process die then), not by the phases: made meanwhile
        zombie = asyncio.get_running_loop().create_task(_ensure_zombie_automation(logger))
        # max_accounts, launch-wide on every host: a row of the shared database its bots take from by run id
        opening = asyncio.ensure_future(open_budget(run_id, definition.max_accounts)) if definition.pools else None
        # Phase 0 and 1 are independent: run them at once; the first failure in phase order is the one raised.
        try:
            checked, reset, _, assets, budget = await _all(
                asyncio.to_thread(check_instances, definition, this_host()) if launch.validate_emulators else _none(),
                _reconcile(client, definition),
                _pools(definition),
                asyncio.to_thread(validate_routine, definition.routine, definition.routine_config,
                                  validate_templates=launch.validate_templates) if launch.validate_routine
                else asyncio.to_thread(load_assets, validate_templates=launch.validate_templates),
                opening or _none())
        except BaseException:
            if opening is not None and opening.done() and not opening.cancelled() and opening.exception() is None:
                await close_budget(client, opening.result())
            raise
        if checked is not None:
            logger.info("instances: %s", ", ".join(f"{k} {v}" for k, v in checked.items()))
        reset = [instance.key for instance in reset]
        if reset:
            logger.warning("reset leaked instance locks (no live flow run held them): %s", ", ".join(reset))
        runtime = LaunchRuntime(run_id, assets=assets)
        if definition.pools:  # the launch history lives beside the accounts (docs/farm.md)
            await launch_started(run_id, group, definition.bots, host=this_host())
        acquirer = _Acquirer(client, run_id, definition, runtime)
        states: list[State | None] = []
        try:
            try:
                await acquirer.run()
            except BaseException:
                for _, lock in acquirer.acquired:
                    await acquirer.drop(lock)
                raise
            if not acquirer.acquired:
                why = "; ".join(acquirer.errors) or "all skipped"
                raise OrchestrationError(f"group {group!r}: no instance acquired ({why})")
            if len(acquirer.acquired) < definition.bots:
                logger.warning("launching %d of %d bots", len(acquirer.acquired), definition.bots)
            await zombie
            states = await _run_bots(client, run_id, definition, runtime, acquirer)
        finally:
            await runtime.close()
            with contextlib.suppress(Exception):
                await acquirer.stop_started()
            with contextlib.suppress(Exception):
                await client.delete_variable_by_name(control_variable(run_id))
            if budget is not None:
                await close_budget(client, budget)
        rows = [await _row(instance, i, state, acquirer.remote_status.get(i))
                for i, ((instance, _), state) in enumerate(zip(acquirer.acquired, states, strict=True))]
        result = LaunchResult(group=group, flow_run_id=run_id, requested=definition.bots,
                              launched=sum(s is not None for s in states), bots=rows, conflicts=acquirer.conflicts,
                              skipped=acquirer.skipped, errors=acquirer.errors, reset_locks=reset)
        await acreate_table_artifact(
            [row.model_dump() for row in rows], key=artifact_key("launch", group),
            description=f"Group **{group}**: {result.launched}/{result.requested} bots, routine "
                        f"`{definition.routine}`")
        failed = [r for r in rows if r.state == BotState.FAILED.value]
        why = f"{len(failed)} of {len(rows)} bots failed"
        if runtime.launch_cancelled or await is_cancelled(client, run_id):  # before Failed: see is_cancelled
            return Cancelled(message=f"group {group!r} stopped" + (f" ({why})" if failed else ""), data=result)
        if failed:
            return Failed(message=f"group {group!r}: {why}", data=result)
        return result


async def _all(*steps: Awaitable[Any]) -> list[Any]:
    """Await ``steps`` concurrently; once all are done, raise the first one's error (in argument order), if any."""
    results = await asyncio.gather(*steps, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


async def _reconcile(client: PrefectClient, definition: GroupDefinition) -> list[InstanceId]:
    """Reset the leaked lock slots of the group's instances (:func:`adapters.locks.reconcile`)."""
    return await reconcile(client, [instance_of(definition, place) for place in definition.placements()])


async def _pools(definition: GroupDefinition) -> None:
    """Resolve the group's pools (fail fast), then refresh them if the launch asks to."""
    if definition.pools:
        await asyncio.to_thread(resolve_pools, definition.pools)
        if definition.launch.refresh_pools:
            await asyncio.to_thread(refresh_pools, definition.pools)


async def _ensure_zombie_automation(logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Create the zombie clean-up unless it exists (``emufleet automations apply`` may have tuned it): if this
    launch's process is killed, its bot runs end ``Crashed`` once their flow-run heartbeats stop, instead of staying
    *Running* (docs/supervision.md "Zombie runs"). Its own client: it runs beside the phases and may outlive a
    launch that failed in them."""
    zombie_after = default_zombie_after()
    if zombie_after is None:
        return
    try:
        (automation,) = emufleet_automations(None, zombie_after=zombie_after)
        async with get_client() as client:
            if not await client.read_automations_by_name(automation.name):
                await apply_automations(client, [automation])
    except Exception as exc:  # an older server without automations must not stop a launch
        logger.warning("zombie-run automation not applied: %s", exc)


async def _run_bots(client: PrefectClient, run_id: UUID, definition: GroupDefinition, runtime: LaunchRuntime,
                    acquirer: _Acquirer) -> list[State | None]:
    """Phase 3: one ``run_bot`` subflow per acquired instance, running concurrently.

    ``stagger`` is measured between bots *starting* (seed ``000_…`` "Wait stagger delay"): the next bot's flow run
    is created once the previous one is running and ``stagger`` seconds have passed since it started, so the time
    a flow run takes to be created never eats into the gap (it did when the wait began at scheduling).

    With ``stagger`` 0 the bots start together: each connects its device as soon as its run is running, but
    holds its first step until every bot's run is running (at most :data:`CREATE_TIMEOUT_S`) and every bot is
    ready for its first step (at most :data:`READY_TIMEOUT_S` more; ``runtime.go``). Steps that ran meanwhile
    would compete with the remaining creations for the CPU and, on SQLite, for the Prefect server's one writer
    (their task runs are recorded as they go), which made the last bots of a 10-bot launch start seconds later;
    and nine bots' first steps slowed the last bot's device connect (docs/orchestration.md "Costs"). Bots on
    other hosts are not waited for: their worker starts each in a new process there, 10–20 s later, and they step
    as soon as they are ready.
    """
    launch = definition.launch
    loop = asyncio.get_running_loop()
    token = current_runtime().set(runtime)  # the bots' tasks copy the context: they find the runtime here
    started: list[asyncio.Task[State] | None] = []
    creating: set[asyncio.Task[float]] = set()
    running: list[asyncio.Task[float]] = []
    ready: list[asyncio.Task[float]] = []
    previous: asyncio.Task[float] | None = None  # resolves to the loop time the previous bot started
    if not launch.stagger:  # start barrier: see the docstring
        runtime.go.clear()
    try:
        for index, (instance, lock) in enumerate(acquirer.acquired):
            if previous is not None and launch.stagger:
                began = await previous
                await asyncio.sleep(max(0.0, began + launch.stagger - loop.time()))
            # Once a bot runs, the watcher polls the launch run twice a second: no need to ask again per bot.
            if runtime.launch_cancelled or (not runtime.watching and await is_cancelled(client, run_id)):
                await acquirer.drop(lock)
                started.append(None)
                continue
            backend, backend_options = backend_of(definition, instance.host)
            spec = BotSpec(group=definition.name, bot=index, serial=instance.serial, host=instance.host,
                           routine=definition.routine,
                           routine_config=definition.routine_config, pools=definition.pools,
                           restart_policy=launch.restart_policy, recovery=definition.recovery,
                           health=definition.health, record=definition.record, repeat=launch.repeat,
                           connect_timeout_s=launch.emulator_timeout, validate_templates=launch.validate_templates,
                           backend=backend, backend_options=backend_options,
                           instance_index=acquirer.indexes.get(instance), lock_lease_id=lock.lease_id,
                           instance_check=launch.instance_check, schedule=definition.schedule,
                           quarantine=definition.quarantine)
            # At most CREATE_WINDOW bots being created at once, even with stagger 0: a SQLite server takes one
            # write at a time, so a larger burst only queues there (10 at once measured no faster than 3).
            while len(creating) >= CREATE_WINDOW:
                await asyncio.wait(creating, timeout=CREATE_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
                creating = {w for w in creating if not w.done()}
            runtime.started[index] = asyncio.Event()
            runtime.ready[index] = asyncio.Event()
            host = acquirer.remote.get(instance)
            if host is not None:
                # Its run is created here and started by its host's worker, in a new process there: it leaves the
                # creation window once created, and the barrier (for this host's CPU and steps) does not wait for it.
                spec = spec.model_copy(update={"launch_run_id": run_id})
                created = asyncio.Event()
                task = loop.create_task(_remote_bot(client, spec, host, runtime, acquirer, lock, created.set))
                creation = loop.create_task(_started_at(created, task))
                previous = loop.create_task(_started_at(runtime.started[index], task))
            else:
                with bot_tags(spec), _extra_tag(BOT_TAG):
                    task = loop.create_task(_bot(client, run_id, spec))
                creation = previous = loop.create_task(_started_at(runtime.started[index], task))
                running.append(previous)
                ready.append(loop.create_task(_started_at(runtime.ready[index], task)))
            started.append(task)
            creating.add(creation)
            runtime.creating(creation)
        if not runtime.go.is_set() and running:
            await asyncio.wait(running, timeout=CREATE_TIMEOUT_S)
            await asyncio.wait(ready, timeout=READY_TIMEOUT_S)
        runtime.go.set()
        for waiter in (*creating, *ready):
            waiter.cancel()
        return list(await asyncio.gather(*(t if t is not None else _none() for t in started)))
    finally:
        runtime.go.set()
        current_runtime().reset(token)


async def _bot(client: PrefectClient, run_id: UUID, spec: BotSpec) -> State:
    try:
        return await run_bot(spec, return_state=True)
    finally:
        with contextlib.suppress(Exception):
            await unclaim(client, run_id, spec.instance)  # the bot's own run held the claim while it lived


async def _remote_bot(client: PrefectClient, spec: BotSpec, host: Host, runtime: LaunchRuntime,
                     acquirer: _Acquirer, lock: InstanceLock, on_created: Callable[[], None]) -> State:
    """A bot on another host: ``run-bot`` on its worker (:mod:`adapters.dispatch`); the lease is handed over once
    that run is *Running*. Returns its final state; its last status goes to ``acquirer.remote_status``."""

    def started() -> None:
        runtime.keeper.discard(lock.instance)  # the remote bot renews the lease from now on
        runtime.started[spec.bot].set()

    try:
        run = await run_remote_bot(client, spec, host.queue, tags=["emufleet", group_tag(spec.group),
                                                                   limit_name(spec.instance), BOT_TAG],
                                   start_timeout_s=spec.connect_timeout_s + REMOTE_START_S,
                                   on_created=on_created, on_started=started,
                                   launch_cancelled=lambda: runtime.launch_cancelled)
    finally:
        if not runtime.started[spec.bot].is_set():  # never picked up: free the lock the launch took for it
            runtime.started[spec.bot].set()
            await acquirer.drop(lock)
        else:
            with contextlib.suppress(Exception):
                await unclaim(client, acquirer.run_id, spec.instance)  # the bot's own run held the claim meanwhile
    if (status := bot_status(run)) is not None:
        acquirer.remote_status[spec.bot] = status
    assert run.state is not None  # final (run_remote_bot returns only then)
    return run.state


async def _none() -> None:
    return None


async def _started_at(event: asyncio.Event, task: asyncio.Task[State]) -> float:
    """The loop time at which ``event`` is set (the bot's flow run is running, or it is ready for its first step)
    or the bot already ended (``task``)."""
    waiter = asyncio.get_running_loop().create_task(event.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return asyncio.get_running_loop().time()


def _extra_tag(tag: str) -> AbstractContextManager[set[str]]:
    from prefect import tags

    return tags(tag)

