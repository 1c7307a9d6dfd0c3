"""``run_bot``: one bot as a Prefect flow run, a thin adapter over the engine's :class:`emufleet.bot.BotSession`.

The session does the work (device, accounts, attempts under the restart policy, supervision, recovery, fencing:
docs/supervision.md); this flow gives it what lives in Prefect and maps its reports back:

* its step runner runs every top-level step as a task run (:class:`tasks.steps.TaskSteps`);
* its instance lock is the lease on the ``instance:<host>:<serial>`` concurrency limit (taken by ``launch_group``, or
  here when run alone), renewed by the launch's :class:`adapters.keeper.LockKeeper`, which feeds the fence; its run
  claims the instance in emufleet's database while it lives (:class:`emufleet.control.ClaimStore`);
* its observer writes status labels, events and artifacts (:class:`adapters.observer.PrefectObserver`);
* cancelling the bot's flow run — or its launch's — from the UI, CLI or API stops the session within one watcher
  poll (0.5 s) plus the controller's 100 ms, returns the account, frees the lock, and ends the run ``Cancelled``.

Why the restart policy is the session's loop rather than Prefect flow retries: ``always`` restarts after a
success too; the instance lock and the account lease must stay held between attempts (a retry re-enters the flow
and would let another launch take the instance in between); the failure budget spans attempts and recoveries; and
the back-off must wake at once on stop. Every attempt is visible in the run's step task runs and its labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
from datetime import UTC, datetime
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import State
from prefect.states import Cancelled, Completed, Failed

from adapters.farm import bot_ledger, ledger_writer
from adapters.keeper import BotLease
from adapters.locks import InstanceLock, claim, limit_name, try_acquire, unclaim
from adapters.observer import PrefectObserver
from adapters.registry import group_tag, is_cancelled
from adapters.runtime import BotHandle, LaunchRuntime, current_flow_run, current_runtime
from adapters.studio import BotStudio
from emufleet.bot import BotAccounts, BotResult, BotSession, BotSpec, load_assets
from emufleet.bot.evidence import evidence_dir
from emufleet.bot.observer import BotObserver, TeeObserver
from emufleet.control import ControlPlane
from emufleet.errors import InstanceConflictError
from emufleet.farm import Ledger, LedgerObserver
from emufleet.groups import BotState, BotStatus
from tasks.steps import TaskSteps

__all__ = ["BotResult", "BotSpec", "run_bot"]


def _accounts(spec: BotSpec, runtime: LaunchRuntime, run_id: UUID, cancel: threading.Event) -> BotAccounts | None:
    """The bot's accounts over its pools; one Pool per launch, viewed per bot (one refresh schedule, not ten),
    within its launch's account budget (none when run alone)."""
    if not spec.pools:
        return None
    from emufleet import db
    from emufleet.pools import AccountBudget, Pool
    from emufleet.pools.leases import LeaseOwner
    from emufleet.pools.provider import PoolAccountProvider
    from tasks.phases import pool_definitions

    memo = runtime.memo
    eng = memo(("db", spec.database_url), lambda: db.engine(spec.database_url))
    definitions = memo(("pools", tuple(spec.pools)), lambda: pool_definitions(spec.pools))
    owner = str(runtime.launch_run_id or run_id)
    pools = [memo(("pool", d.name), functools.partial(Pool, d, eng, LeaseOwner(owner))) for d in definitions]
    providers = [PoolAccountProvider(pool.for_owner(LeaseOwner(owner, spec.serial)), routine=spec.routine,
                                     cancel=cancel) for pool in pools]
    # The launch's max_accounts, shared with its bots on every host (the launch made the row before any bot).
    budget = AccountBudget(eng, str(runtime.launch_run_id)) if runtime.launch_run_id is not None else None
    schedule = spec.schedule
    gate = (lambda: schedule.gate(datetime.now(UTC))) if schedule is not None else None
    return BotAccounts(providers, budget, cancel=cancel, gate=gate)


def _ledger(spec: BotSpec, runtime: LaunchRuntime, run_id: UUID) -> tuple[Ledger, LedgerObserver] | None:
    """The farm's ledger of a bot that plays accounts (its pools' database keeps the farm's history)."""
    if not spec.pools:
        return None
    from emufleet import db

    eng = runtime.memo(("db", spec.database_url), lambda: db.engine(spec.database_url))
    return bot_ledger(runtime, eng, spec, spec.quarantine, str(runtime.launch_run_id or run_id))


async def _lease(client: PrefectClient, runtime: LaunchRuntime, spec: BotSpec, run_id: UUID) -> BotLease:
    await claim(runtime.control.claims, run_id, spec.instance, launch_id=runtime.launch_run_id)
    if spec.lock_lease_id is not None:
        lock = InstanceLock(spec.instance, spec.lock_lease_id)
    else:  # called on its own, not through launch_group
        taken = await try_acquire(client, spec.instance, holder=run_id)
        if taken is None:
            raise InstanceConflictError(f"instance {spec.instance} is locked by another flow run")
        lock = taken
    mine = [runtime.launch_run_id] if runtime.launch_run_id else []
    return BotLease(runtime.keeper, runtime.control.claims, lock, run_id, also_mine=mine)


@flow(name="run-bot", flow_run_name="{spec.group}-bot{spec.bot}", persist_result=False, log_prints=False)
async def run_bot(spec: BotSpec) -> BotResult | State:
    """Play ``spec.routine`` on ``spec.serial`` until done, failed past the restart cap, given up, or stopped.

    Returns a :class:`BotResult` as the data of the final state: ``Completed`` when the bot completed, ``Failed``
    when it failed or gave up, ``Cancelled`` when stopped (by an operator, or because another launch took its
    instance while its lock was lost). Under ``launch_group`` the bots share its loaded template set and routine
    registry (:class:`adapters.runtime.LaunchRuntime`); alone, a bot loads them.
    """
    from emufleet.routines import Controller

    logger = get_run_logger()
    run_id = current_flow_run().id
    runtime = current_runtime().get()
    own_runtime = runtime is None
    if runtime is None:  # alone, or dispatched to this host's worker by a launch elsewhere (spec.launch_run_id)
        runtime = LaunchRuntime(spec.launch_run_id,
                                control=await asyncio.to_thread(ControlPlane.connect, spec.database_url))
    if spec.bot in runtime.started:
        runtime.started[spec.bot].set()  # the launch may create the next bot's flow run now
    async with get_client() as client:
        run_tags = set(current_flow_run().tags)
        wanted = {"emufleet", group_tag(spec.group), limit_name(spec.instance)}
        if not wanted <= run_tags:
            await client.update_flow_run(run_id, tags=sorted(run_tags | wanted))
        lease = await _lease(client, runtime, spec, run_id)
        controller = Controller()
        handle = BotHandle(spec.bot, run_id, controller)
        session: BotSession | None = None
        try:
            assets = runtime.assets
            if assets is None:
                assets = await runtime.call(lambda: load_assets(validate_templates=spec.validate_templates))
            cancel = threading.Event()
            accounts = await runtime.call(_accounts, spec, runtime, run_id, cancel)
            observer = PrefectObserver(run_id, runtime, client, handle,
                                       BotStatus(group=spec.group, bot=spec.bot, instance=spec.serial, host=spec.host))
            farm = await runtime.call(_ledger, spec, runtime, run_id)
            reports: BotObserver = TeeObserver(observer, farm[1]) if farm is not None else observer
            studio = BotStudio(spec, run_id, reports, client, runtime)  # flight recorder, live wall
            session = BotSession(spec, assets, call=runtime.call, observer=studio.observer, accounts=accounts,
                                 lease=lease, steps=TaskSteps(spec.bot, runtime.executor), controller=controller,
                                 cancel=cancel, evidence_dir=evidence_dir(spec.group, spec.bot, str(run_id)),
                                 flow_run_id=str(run_id), go=runtime.arrive(spec.bot), connect=studio.connect,
                                 on_step=studio.on_step)
            handle.on_stop = session.stop
            handle.on_recover = studio.commands(session.request_recovery)
            runtime.register(handle)
            writer = asyncio.get_running_loop().create_task(observer.writer())
            farm_writer = asyncio.get_running_loop().create_task(ledger_writer(runtime, farm[0])) if farm else None
            try:
                result = await session.run()
            finally:
                await studio.close()
                for task in (writer, farm_writer):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await observer.close()
        finally:
            runtime.unregister(handle)
            with contextlib.suppress(Exception):
                await lease.release()
            with contextlib.suppress(Exception):
                await unclaim(runtime.control.claims, run_id, spec.instance)
            if own_runtime:
                await runtime.close()
                runtime.control.dispose()
        cancelling = handle.cancelled
        # Cancelled while it ended (after the watcher's last poll): only Cancelled is accepted now
        if not cancelling and session is not None and result.status.state is not BotState.STOPPED:
            with contextlib.suppress(Exception):
                cancelling = await is_cancelled(client, run_id)
    if session is None:
        return Failed(message=f"bot {spec.bot} could not start")
    status = result.status
    if status.state is BotState.STOPPED:
        why = "stopped" if handle.cancelled else "stopped: another run holds its instance"
        return Cancelled(message=f"bot {spec.bot} {why}", data=result)
    if status.state is BotState.FAILED:
        what = f"gave up: {result.gave_up}" if result.gave_up else f"failed after {status.restarts} restart(s): " \
                                                                   f"{status.error}"
        logger.error("bot %s %s", spec.bot, what)
        if cancelling:  # adapters.registry.is_cancelled: any other final state is rejected, the run left Cancelling
            return Cancelled(message=f"bot {spec.bot} stopped; it had {what}", data=result)
        return Failed(message=f"bot {spec.bot} {what}", data=result)
    if cancelling:  # as above: Completed would be rejected too
        return Cancelled(message=f"bot {spec.bot} stopped as it completed", data=result)
    return Completed(message=f"bot {spec.bot} completed", data=result)

