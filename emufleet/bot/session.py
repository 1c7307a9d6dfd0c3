"""The bot session: one bot from start to end, without Prefect (digest §9.3–§9.4, §9.7; docs/supervision.md).

A :class:`BotSession` is the lifecycle: it opens the device (retried under the restart policy), runs attempts
of the routine under the restart policy, and ends the bot. It composes four parts that meet through one
:class:`~emufleet.bot.interrupt.InterruptScope` (what interrupted the running step, who handles it, handled or
not) and share no flags:

* the **attempt runner** (:mod:`emufleet.bot.attempt`): one attempt, step by step;
* the **recovery ladder** (:mod:`emufleet.bot.ladder`): handles an interrupt, inside a shield;
* the **supervision loop** (:mod:`emufleet.bot.supervision`): raises faults as interrupts, heartbeats;
* the **reporter** (:mod:`emufleet.bot.reporter`): status, events, evidence, tallies, to a ``BotObserver``.

Seams for what runs beside a bot:

* ``on_attempt``: awaited at every attempt boundary with an :class:`AttemptBoundary` (attempt number, restarts,
  how the previous attempt ended); a hot reload may swap :attr:`BotSession.assets` there (the next attempt and its
  recoveries use them) and :attr:`BotSession.spec` (its routine, routine config, restart policy and ``repeat``:
  the rest of a spec describes the bot's device and set-up, taken when it started), a flight recorder may mark
  the boundary;
* the observer: everything the reporter reports (status, events, evidence, progress), in order, on the loop;
* ``steps``: how one top-level step runs (a task run under Prefect; a recorder or a debugger may wrap it);
* ``connect``: how the device is made (wrap it to record or throttle captures); once open,
  :attr:`BotSession.opened` holds the device, the supervisor and the routine context, whose ``wait_poll_s`` sets
  how often ``WaitForImage`` captures (a degraded capture rate on a loaded host).

:meth:`BotSession.stop` and :meth:`BotSession.request_recovery` are the only ways in from outside (any thread).

Fencing: the device refuses input once the instance lock's fence closes; the ladder then asks the
:class:`~emufleet.bot.ladder.InstanceLease` to re-acquire the lock, and the bot either resumes or, when another
run holds the instance, ends *stopped* and returns its account.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.bot.attempt import AttemptRunner, classify
from emufleet.bot.events import EventKind
from emufleet.bot.fence import OPEN_FENCE
from emufleet.bot.interrupt import InterruptScope
from emufleet.bot.ladder import InstanceLease, RecoveryLadder
from emufleet.bot.opened import OpenedDevice, adb_connect, open_device
from emufleet.bot.recovery import FailureBudget, Rung
from emufleet.bot.reporter import Reporter
from emufleet.bot.spec import BotSpec
from emufleet.bot.steps import BlockingCall, InlineSteps, StepRunner
from emufleet.bot.supervision import TICK_S, SupervisionLoop
from emufleet.errors import DeviceError
from emufleet.groups.status import BotState, BotStatus
from emufleet.heap import keep_large_blocks_mapped
from emufleet.outcome import Outcome
from emufleet.routines import Controller, StepEvent

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.observer import BotObserver
    from emufleet.device.interface import RecoverableDevice
    from emufleet.resources import CapturePacer

__all__ = ["AttemptBoundary", "BotSession", "InstanceLease", "classify"]

log = logging.getLogger(__name__)
ENDS = (Outcome.STOPPED, Outcome.DRAINED, Outcome.GAVE_UP, Outcome.LOCK_TAKEN)  # no restart after these
FINAL = {Outcome.STOPPED: BotState.STOPPED, Outcome.LOCK_TAKEN: BotState.STOPPED,
         Outcome.COMPLETED: BotState.COMPLETED, Outcome.DRAINED: BotState.COMPLETED}  # anything else: FAILED


@dataclass(frozen=True, slots=True)
class AttemptBoundary:
    """An attempt is about to start: its number (1-based), the restarts so far, how the previous one ended
    (``None`` before the first) and its error."""

    session: BotSession
    attempt: int
    restarts: int
    previous: Outcome | None
    error: str | None


class BotSession:
    """One bot: device, accounts, attempts under the restart policy, supervision and recovery.

    Args:
        spec: what to play where. assets: the template set and routine registry.
        call: runs blocking work off the event loop (``await call(fn, *args)``).
        observer: receives status changes, events and evidence. accounts: the bot's account provider (``None``:
            the routine's account actions raise). lease: the instance lock (``None``: no lock, no fencing).
        steps: runs one top-level step (default: inline on a bot thread). connect: makes the device (default: ADB).
        evidence_dir: where failure frames are written (``None``: none are). controller: the bot's controller
            (pause/resume come through it); a new one by default. cancel: set when the bot stops (the account
            provider's waits watch it). flow_run_id: the bot's flow run, for events. on_step: also receives every
            step event (from bot threads; ``emufleet routines run`` prints them). go: awaited once, after the
            device is connected and before the first step (a launch's start barrier; ``None``: start at once).
        on_attempt: awaited at every attempt boundary (see the module docstring). tick_s: seconds between the
            supervision loop's quick checks (:data:`~emufleet.bot.supervision.TICK_S`; the heartbeat's period is
            ``spec.health.heartbeat``). pacer: spaces the bot's captures in its host's degraded mode
            (:mod:`emufleet.resources`; a launch gives one per bot).
    """

    def __init__(self, spec: BotSpec, assets: EngineAssets, *, call: BlockingCall, observer: BotObserver,
                 accounts: BotAccounts | None = None, lease: InstanceLease | None = None,
                 steps: StepRunner | None = None, connect: Callable[[], RecoverableDevice] | None = None,
                 evidence_dir: Path | None = None, controller: Controller | None = None,
                 cancel: threading.Event | None = None, flow_run_id: str | None = None,
                 on_step: Callable[[StepEvent], None] | None = None,
                 go: Callable[[], Awaitable[object]] | None = None,
                 on_attempt: Callable[[AttemptBoundary], Awaitable[None]] | None = None,
                 tick_s: float = TICK_S, pacer: CapturePacer | None = None) -> None:
        self.spec = spec
        self.assets = assets
        self.call = call
        self.accounts = accounts
        self.lease = lease
        self.fence = lease.fence if lease is not None else OPEN_FENCE
        self.steps = steps or InlineSteps(call)
        self._connect = connect or (lambda: adb_connect(spec))
        self.controller = controller or Controller()
        self.cancel = cancel or threading.Event()
        self._on_step, self._go, self._on_attempt = on_step, go, on_attempt
        self._tick_s = tick_s
        self._pacer = pacer  # degraded mode's capture spacing (emufleet.resources), None: never held
        self.scope = InterruptScope(self.controller)
        self.reporter = Reporter(spec, observer, accounts=accounts, flow_run_id=flow_run_id,
                                 evidence_dir=evidence_dir)
        self.budget = FailureBudget(spec.recovery.budget)
        self.opened: OpenedDevice | None = None

    @property
    def status(self) -> BotStatus:
        """The bot's status now (the reporter's)."""
        return self.reporter.status

    # -- control (any thread) ----------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the bot: the running step stops within the controller's 100 ms, waits end at once."""
        self.cancel.set()
        self.scope.stop()

    def request_recovery(self, rung: Rung | str) -> None:
        """An operator asks for ``rung`` (``restart_app``, ``restart_instance``, ``reconnect``, ``routine``) now.

        Once an attempt runs (and no recovery is under way), the running step is interrupted, the rung taken as a
        recovery with reason ``operator`` (``bot.recovering`` / ``bot.recovered`` events with ``fault`` and
        ``reason`` ``"operator"``) and the routine resumes at its last checkpoint with the same account. It spends
        no failure budget; a rung that does not bring the bot back is a fault and the ladder takes over. A paused
        bot is paused again afterwards. A second request before the first is raised replaces it.

        Raises:
            ValueError: ``rung`` is not a rung.
        """
        self.scope.request(Rung(rung))

    # -- the life of a bot -------------------------------------------------------------------------------------
    async def run(self) -> BotStatus:
        """Play until done, failed past the restart cap, given up, or stopped; the bot's last status, with how it
        ended (attempts, clocks, errors, recoveries, captures). Never raises for bot failures."""
        keep_large_blocks_mapped()  # freed frames go back to the system: hours of captures (emufleet.heap)
        started = time.perf_counter()
        reporter, tally = self.reporter, self.reporter.tally
        attempts, restarts, outcome, error = 0, 0, Outcome.FAILED, None
        ticker: asyncio.Task[None] | None = None
        loop = asyncio.get_running_loop()
        reporter.bind(loop)
        self.scope.bind(loop)
        policy = self.spec.restart_policy
        try:
            restarts = await self._open_retrying()
            opened = self.opened
            assert opened is not None
            runner = self._runner(opened)
            opened.ctx.on_notify = reporter.notified  # a routine's Notify steps
            settings = opened.settings.describe() if opened.settings is not None else None
            reporter.emit(EventKind.STARTED, routine=self.spec.routine, instance_settings=settings)
            ticker = loop.create_task(SupervisionLoop(
                self.spec, opened.supervisor, scope=self.scope, reporter=reporter, call=self.call,
                tick_s=self._tick_s).run(), name="emufleet-supervisor")
            previous: Outcome | None = None
            while True:
                if self.scope.stopping:  # stopped between attempts (in the back-off) or before the first one
                    outcome = Outcome.STOPPED
                    break
                attempts += 1
                if self._on_attempt is not None:
                    await self._on_attempt(AttemptBoundary(self, attempts, restarts, previous, error))
                    self._take_boundary(runner)
                    policy = self.spec.restart_policy
                reporter.set(state=BotState.RUNNING, restarts=restarts)
                outcome, error = await runner.run()
                previous = outcome
                if self.scope.stopping and outcome is not Outcome.LOCK_TAKEN:
                    outcome = Outcome.STOPPED
                await self.call(self._settle, outcome, error)
                if outcome is Outcome.FAILED:
                    tally.errors.append(error or "failed")
                    opened.supervisor.metrics.failed("attempt")
                    reporter.emit(EventKind.ATTEMPT_FAILED, attempt=attempts, error=error)
                    log.warning("bot %s attempt %d failed: %s", self.spec.bot, attempts, error)
                    if not self.budget.spend():
                        outcome, error = Outcome.GAVE_UP, f"failure budget spent: {error}"
                if outcome in ENDS:
                    break
                if outcome is Outcome.COMPLETED and self.spec.repeat:
                    continue  # the next account; not a restart
                if not policy.should_restart(succeeded=outcome is Outcome.COMPLETED, restarts_done=restarts):
                    break
                restarts += 1
                await self._back_off(restarts, error)
        except Exception as exc:  # setting up the bot failed (device, pools): no attempt can run
            outcome, error = Outcome.FAILED, f"{type(exc).__name__}: {exc}"
            tally.errors.append(error)
            log.error("bot %s could not start: %s", self.spec.bot, error)
        finally:
            await self._end(ticker, outcome, error)
        return self._result(outcome, error, attempts, restarts, time.perf_counter() - started)

    def _runner(self, opened: OpenedDevice) -> AttemptRunner:
        ladder = RecoveryLadder(self.spec, self.assets, call=self.call, reporter=self.reporter, scope=self.scope,
                                device=opened, budget=self.budget, accounts=self.accounts, lease=self.lease)
        return AttemptRunner(self.spec, self.assets, call=self.call, steps=self.steps, reporter=self.reporter,
                             scope=self.scope, device=opened, ladder=ladder, go=self._go)

    def _take_boundary(self, runner: AttemptRunner) -> None:
        """The boundary hook may have swapped :attr:`assets` and :attr:`spec`: the next attempt and its recoveries
        use them."""
        runner.assets = runner.ladder.assets = self.assets
        runner.spec = runner.ladder.spec = self.spec
        ctx = runner.device.ctx
        ctx.templates, ctx.registry = self.assets.templates, self.assets.registry
        ctx.group_config = {k: str(v) for k, v in self.spec.routine_config.items()}

    async def _back_off(self, restarts: int, error: str | None) -> None:
        policy = self.spec.restart_policy
        delay = policy.delay_s(restarts)
        self.reporter.set(state=BotState.RESTARTING, restarts=restarts, error=error)
        log.info("bot %s: restart %d/%d in %.1f s", self.spec.bot, restarts, policy.max_restarts, delay)
        await self.scope.sleep(delay)

    async def _open_retrying(self) -> int:
        """Open the device; one that cannot be opened yet (``adb connect`` refused, the emulator still booting)
        is retried under the restart policy and the failure budget, as a failed attempt would be. Returns the
        restarts it used.

        Raises:
            DeviceError: the last failure, once the policy, the budget or a stop ends the retries.
        """
        policy, restarts = self.spec.restart_policy, 0
        while True:
            try:
                self.opened = await self.call(functools.partial(
                    open_device, self.spec, self.assets, self._connect, fence=self.fence, controller=self.controller,
                    accounts=self.accounts, on_step=self._on_step, pacer=self._pacer))
                return restarts
            except DeviceError as exc:
                error = f"{type(exc).__name__}: {exc}"
                if (self.scope.stopping or not policy.should_restart(succeeded=False, restarts_done=restarts)
                        or not self.budget.spend()):
                    raise
                restarts += 1
                self.reporter.tally.errors.append(error)
                log.warning("bot %s could not open its device (%s): retry %d", self.spec.bot, error, restarts)
                await self._back_off(restarts, error)

    def _settle(self, outcome: Outcome, error: str | None) -> None:
        """After an attempt, an account still current failed with it, or goes back to the pool."""
        if self.accounts is None or self.accounts.current is None:
            return
        if outcome is Outcome.FAILED:
            self.accounts.mark_failed(None, error or "routine failed")
        elif outcome is not Outcome.GAVE_UP:  # a give-up returns it with the reason when the accounts close
            self.accounts.return_account(None, reason=f"routine {outcome} without finishing the account")

    async def _end(self, ticker: asyncio.Task[None] | None, outcome: Outcome, error: str | None) -> None:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        self.cancel.set()
        self.controller.stop()
        if self.accounts is not None:
            reason = f"gave up: {error}" if outcome is Outcome.GAVE_UP else "bot ended"
            try:
                await self.call(self.accounts.close, reason)
            except Exception as exc:  # the leases expire by themselves; the bot's end must still be reported
                log.warning("bot %s: its accounts did not close cleanly: %s", self.spec.bot, exc)

    def _result(self, outcome: Outcome, error: str | None, attempts: int, restarts: int, wall: float) -> BotStatus:
        reporter, tally = self.reporter, self.reporter.tally
        if outcome is Outcome.GAVE_UP:
            reporter.emit(EventKind.GAVE_UP, reason=error, failures=self.budget.recent)
        final = FINAL.get(outcome, BotState.FAILED)
        supervisor = self.opened.supervisor if self.opened is not None else None
        # the last status says how the bot ended: its flow run's labels carry it to a launch on another host
        reporter.set(state=final, step=None, restarts=restarts, error=None if final is not BotState.FAILED else error,
                     attempts=attempts, wall_s=wall, step_s=tally.step_s, engine_s=tally.engine_s,
                     errors=list(tally.errors), faults=tally.faults, recoveries=dict(tally.recoveries),
                     gave_up=error if outcome is Outcome.GAVE_UP else None,
                     captures=supervisor.captures if supervisor is not None else 0)
        reporter.emit(EventKind.FINISHED, state=str(final), reason=error, steps_done=reporter.status.steps_done,
                      wall_s=round(wall, 6), step_s=round(tally.step_s, 6), engine_s=round(tally.engine_s, 6))
        return reporter.status
