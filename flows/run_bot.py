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
the back-off must wake at once on stop. Prefect's retry states (``AwaitingRetry``, a *Scheduled* state, then
``Retrying``) cannot be borrowed either: a *Scheduled* bot run of the ``run-bot`` deployment would be picked up
by a worker and run twice. So each restart is a named state of its own in the run's state history
(:class:`RestartStates`): ``Restarting`` (a *Running* state) with ``restart N of at most M`` and the reason, then
``Running`` with ``attempt N+1`` when that attempt starts. Every attempt is also visible in the run's step task
runs and its labels.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import State
from prefect.client.schemas.responses import SetStateStatus
from prefect.states import Cancelled, Completed, Failed, Running

from adapters import pictures
from adapters.farm import bot_ledger, farm_rules, ledger_writer
from adapters.keeper import BotLease
from adapters.locks import InstanceLock, claim, limit_name, try_acquire, unclaim
from adapters.logged import logged
from adapters.observer import PrefectObserver
from adapters.registry import group_tag, is_cancelled
from adapters.runtime import BotHandle, LaunchRuntime, current_flow_run, current_runtime
from adapters.studio import BotStudio
from emufleet import tracing
from emufleet.bot import BotAccounts, BotSession, BotSpec, load_assets
from emufleet.bot.events import BotEvent
from emufleet.bot.evidence import evidence_dir
from emufleet.bot.observer import BotObserver, TeeObserver
from emufleet.control import ControlPlane
from emufleet.errors import InstanceConflictError
from emufleet.farm import Ledger, LedgerObserver
from emufleet.groups import BotState, BotStatus
from emufleet.reload import LiveAssets
from emufleet.routines.context import MatchScore
from tasks.steps import TaskSteps

__all__ = ["BotSpec", "BotStatus", "RestartStates", "run_bot"]

log = logging.getLogger(__name__)


class RestartStates:
    """A bot observer that also writes each restart into the bot's flow-run state history (see the module doc).

    Forwards everything to ``inner``; on a status change to *restarting* with a new restart count it proposes
    ``Restarting`` (*Running* type; message ``restart N of at most M: <error>``), and when the next attempt runs,
    ``Running`` (``attempt N+1``). The proposals are sent in order, off the session's path; one the server rejects
    (a run being cancelled accepts only *Cancelled*) or that fails to arrive is logged and skipped.
    """

    def __init__(self, inner: BotObserver, client: PrefectClient, run_id: UUID, max_restarts: int) -> None:
        self.inner = inner
        self.client = client
        self.run_id = run_id
        self.max_restarts = max_restarts
        self._restarts = 0
        self._restarting = False
        self._sent: asyncio.Task[None] | None = None

    def status(self, status: BotStatus) -> None:
        self.inner.status(status)
        if status.state is BotState.RESTARTING and status.restarts > self._restarts:
            self._restarts, self._restarting = status.restarts, True
            self._propose(Running(name="Restarting", message=f"restart {status.restarts} of at most "
                                                             f"{self.max_restarts}: {status.error or 'no error'}"))
        elif status.state is BotState.RUNNING and self._restarting:
            self._restarting = False
            self._propose(Running(message=f"attempt {self._restarts + 1}"))

    def event(self, event: BotEvent) -> None:
        self.inner.event(event)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        self.inner.evidence(reason, frames, step, scores)

    def progress(self, done: int, total: int) -> None:
        self.inner.progress(done, total)

    def _propose(self, state: State) -> None:
        previous = self._sent

        async def send() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                result = await self.client.set_flow_run_state(self.run_id, state)
            except Exception as exc:  # the server is away: the restart still happens, its state is lost
                log.warning("flow run %s: state %s not recorded: %s", self.run_id, state.name, exc)
                return
            if result.status != SetStateStatus.ACCEPT:
                log.info("flow run %s: state %s not accepted (%s)", self.run_id, state.name, result.status)

        self._sent = asyncio.get_running_loop().create_task(send())

    async def close(self, timeout_s: float = 10.0) -> None:
        """Wait until every proposal was answered (before the run's final state), at most ``timeout_s`` seconds:
        with the server away, the bot's end must not wait on its history."""
        if self._sent is not None:
            done, _ = await asyncio.wait({self._sent}, timeout=timeout_s)
            if not done:
                self._sent.cancel()
                log.warning("flow run %s: restart states still unsent after %.0f s, dropped", self.run_id, timeout_s)


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
    providers = [PoolAccountProvider(pool.for_owner(LeaseOwner(owner, spec.instance.key)), routine=spec.routine,
                                     cancel=cancel) for pool in pools]
    # The launch's max_accounts, shared with its bots on every host (the launch made the row before any bot).
    budget = AccountBudget(eng, str(runtime.launch_run_id)) if runtime.launch_run_id is not None else None
    schedule = spec.schedule
    gate = (lambda: schedule.gate(datetime.now(UTC))) if schedule is not None else None
    accounts = BotAccounts(providers, budget, cancel=cancel, gate=gate)
    accounts.on_unsuccessful = farm_rules(runtime, eng, spec.quarantine).account_ended
    return accounts


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
async def run_bot(spec: BotSpec) -> BotStatus | State:
    """Play ``spec.routine`` on ``spec.instance`` until done, failed past the restart cap, given up, or stopped.

    Returns the bot's last :class:`~emufleet.groups.BotStatus` (how it ended) as the data of the final state:
    ``Completed`` when the bot completed, ``Failed`` when it failed or gave up, ``Cancelled`` when stopped (by an
    operator, or because another launch took its instance while its lock was lost). Under ``launch_group`` the
    bots share its loaded template set and routine registry (:class:`adapters.runtime.LaunchRuntime`); alone, a bot
    loads them.
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
                                       BotStatus(group=spec.group, bot=spec.bot, instance=spec.instance))
            farm = await runtime.call(_ledger, spec, runtime, run_id)
            reports: BotObserver = TeeObserver(observer, farm[1]) if farm is not None else observer
            states = RestartStates(reports, client, run_id, spec.restart_policy.max_restarts)
            studio = BotStudio(spec, run_id, states, client, runtime)  # flight recorder, live wall
            notified = pictures.bot_observer(studio.observer, run_id)  # give-up/stuck/Notify with the frame
            hooks = tracing.instrument_bot(spec, notified, TaskSteps(spec.bot, runtime.executor),
                                           flow_run_id=str(run_id), connect=studio.connect)
            session = BotSession(spec, assets, call=runtime.call, observer=hooks.observer, accounts=accounts,
                                 lease=lease, steps=hooks.steps, controller=controller,
                                 cancel=cancel, evidence_dir=evidence_dir(spec.group, spec.bot, str(run_id)),
                                 flow_run_id=str(run_id), go=runtime.arrive(spec.bot), connect=hooks.connect,
                                 on_step=studio.on_step, pacer=runtime.pacer(),
                                 on_attempt=runtime.on_attempt or (assets.at_attempt
                                                                   if isinstance(assets, LiveAssets) else None))
            pictures.watch_frames(notified, session)
            handle.on_stop = session.stop
            handle.on_recover = studio.commands(session.request_recovery)
            runtime.register(handle)
            writer = asyncio.get_running_loop().create_task(observer.writer())
            farm_writer = asyncio.get_running_loop().create_task(ledger_writer(runtime, farm[0])) if farm else None
            try:
                status = await session.run()
            finally:
                await studio.close()
                await states.close()
                for task in (writer, farm_writer):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await observer.close()
        finally:
            runtime.unregister(handle)
            with logged(logger, f"bot {spec.bot}: releasing its instance lock (its lease expires by itself)"):
                await lease.release()
            with logged(logger, f"bot {spec.bot}: releasing its instance claim (released when its launch ends)"):
                await unclaim(runtime.control.claims, run_id, spec.instance)
            if own_runtime:
                await runtime.close()
                runtime.control.dispose()
        cancelling = handle.cancelled
        # Cancelled while it ended (after the watcher's last poll): only Cancelled is accepted now
        if not cancelling and session is not None and status.state is not BotState.STOPPED:
            with logged(logger, f"bot {spec.bot}: reading whether its run is being cancelled (taken as not)"):
                cancelling = await is_cancelled(client, run_id)
    if session is None:
        return Failed(message=f"bot {spec.bot} could not start")
    if status.state is BotState.STOPPED:
        why = "stopped" if handle.cancelled else "stopped: another run holds its instance"
        return Cancelled(message=f"bot {spec.bot} {why}", data=status)
    if status.state is BotState.FAILED:
        what = f"gave up: {status.gave_up}" if status.gave_up else f"failed after {status.restarts} restart(s): " \
                                                                   f"{status.error}"
        logger.error("bot %s %s", spec.bot, what)
        if cancelling:  # adapters.registry.is_cancelled: any other final state is rejected, the run left Cancelling
            return Cancelled(message=f"bot {spec.bot} stopped; it had {what}", data=status)
        return Failed(message=f"bot {spec.bot} {what}", data=status)
    if cancelling:  # as above: Completed would be rejected too
        return Cancelled(message=f"bot {spec.bot} stopped as it completed", data=status)
    return Completed(message=f"bot {spec.bot} completed", data=status)

