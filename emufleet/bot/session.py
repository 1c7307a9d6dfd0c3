"""The bot session: one bot from start to end, without Prefect (digest §9.3–§9.4, §9.7; docs/supervision.md).

A :class:`BotSession` connects and readies its device, runs attempts of its routine under the restart policy
(non-persistent variables reset before each attempt, digest §2.3), supervises them, and reports through a
:class:`~emufleet.bot.observer.BotObserver`. Supervision (:mod:`emufleet.bot.supervisor`) interrupts the running
step when it sees a fault; the session then climbs the recovery ladder (:mod:`emufleet.bot.recovery`) and resumes
the routine at its start or at the last checkpoint step it passed, with the same account. A fault with no rung
left, or past the failure budget, is a give-up: the bot fails and its account returns to the pool with the reason.

Fencing: the device the routine drives refuses input once the instance lock's fence closes; the session then
stops the routine, asks its :class:`InstanceLease` to re-acquire the lock, and either resumes or, when another run
holds the instance, ends *stopped* and returns its account.

Everything blocking (device, database, steps) goes through ``call``; the session itself is asyncio, so that
back-off waits and recovery wake at once on :meth:`stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from emufleet.bot.device import SupervisedDevice
from emufleet.bot.events import BotEvent, BotRef, EventKind
from emufleet.bot.fence import OPEN_FENCE, Fence
from emufleet.bot.recovery import FailureBudget, Fault, FaultKind, Incident, Rung
from emufleet.bot.spec import BotResult, BotSpec
from emufleet.bot.steps import BlockingCall, InlineSteps, StepRunner, step_label
from emufleet.bot.supervisor import Supervisor, health_text
from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    InstanceLockLost,
    ScreenshotError,
    StepTimeoutError,
)
from emufleet.groups.status import TERMINAL_STATES, BotState, BotStatus
from emufleet.heap import keep_large_blocks_mapped
from emufleet.routines import BotContext, Controller, RoutineRun, StepEvent
from emufleet.routines.accounts import AccountRef

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.observer import BotObserver
    from emufleet.device.interface import RecoverableDevice

__all__ = ["InstanceLease", "BotSession", "Outcome", "classify"]

log = logging.getLogger(__name__)
Outcome = Literal["succeeded", "failed", "stopped", "drained", "gave_up", "lock_taken"]
TICK_S = 0.5
HEARTBEAT_S = 10.0
STEP_EVENT_EVERY_S = 30.0  # bot.step-completed events are sampled (the "no step for 10 min" automation)
LOCK_RETRY_S = 2.0
LOCK_GIVE_UP_S = 600.0


class InstanceLease(Protocol):
    """The bot's instance lock as the engine sees it: its fence, and a way to take it again after a loss."""

    fence: Fence

    async def reacquire(self) -> bool:
        """Take the lock again: ``True`` when held (the fence reopened), ``False`` when another run holds it.
        Raises when the lock service cannot be reached (the session retries)."""
        ...


def classify(exc: BaseException | None) -> FaultKind | None:
    """The fault a step's error is, or ``None`` when it is a routine failure (the restart policy's business)."""
    if isinstance(exc, InstanceLockLost):
        return FaultKind.LOCK_LOST
    if isinstance(exc, StepTimeoutError):
        return FaultKind.STEP_TIMEOUT
    if isinstance(exc, ScreenshotError):
        return FaultKind.BAD_FRAME
    if isinstance(exc, DeviceOfflineError | DeviceConnectError):
        return FaultKind.ADB_DOWN
    if isinstance(exc, DeviceError):
        return FaultKind.DEVICE_ERROR
    return None


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
    """

    def __init__(self, spec: BotSpec, assets: EngineAssets, *, call: BlockingCall, observer: BotObserver,
                 accounts: BotAccounts | None = None, lease: InstanceLease | None = None,
                 steps: StepRunner | None = None, connect: Callable[[], RecoverableDevice] | None = None,
                 evidence_dir: Path | None = None, controller: Controller | None = None,
                 cancel: threading.Event | None = None, flow_run_id: str | None = None,
                 on_step: Callable[[StepEvent], None] | None = None,
                 go: Callable[[], Awaitable[object]] | None = None) -> None:
        self.spec = spec
        self._go = go
        self.assets = assets
        self.call = call
        self.observer = observer
        self.accounts = accounts
        self.lease = lease
        self.fence = lease.fence if lease is not None else OPEN_FENCE
        self.steps = steps or InlineSteps(call)
        self._connect = connect or self._adb_connect
        self.evidence_dir = evidence_dir
        self.controller = controller or Controller()
        self.flow_run_id = flow_run_id
        self.cancel = cancel or threading.Event()
        self._on_step = on_step
        self.status = BotStatus(group=spec.group, bot=spec.bot, instance=spec.serial, host=spec.host)
        self.errors: list[str] = []
        self.recoveries: Counter[str] = Counter()
        self.faults = 0
        self.step_s = 0.0
        self.engine_s = 0.0
        self._stopping = False
        self._woken = asyncio.Event()
        self._fault: Fault | None = None
        self._recovering = False
        self._holding = False  # at the start barrier: not playing yet, so nothing to supervise
        self.budget = FailureBudget(spec.recovery.budget)
        self.supervisor: Supervisor | None = None
        self.ctx: BotContext | None = None
        self._raw: RecoverableDevice | None = None
        self._device: SupervisedDevice | None = None  # the context's device (``_raw`` behind the fence)
        self._incident = Incident(spec.recovery.rungs)
        self._last_step_event = 0.0
        self._requested: Rung | None = None  # an operator's rung, taken at the next tick

    # -- control ---------------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the bot: the running step stops within the controller's 100 ms, waits end at once."""
        self._stopping = True
        self.cancel.set()
        self.controller.stop()
        self._woken.set()

    def request_recovery(self, rung: Rung | str) -> None:
        """An operator asks for ``rung`` (``restart_app``, ``restart_instance``, ``reconnect``, ``routine``) now.

        At the supervisor's next tick (≤ :data:`TICK_S`) once an attempt runs, the running step is interrupted,
        the rung taken as a recovery with reason ``operator`` (``bot.recovering`` / ``bot.recovered`` events with
        ``fault`` and ``reason`` ``"operator"``) and the routine resumes at its last checkpoint with the same
        account. It spends no failure budget; a rung that does not bring the bot back is a fault and the ladder
        takes over. A paused bot is paused again afterwards. A second request before the first is taken replaces
        it. Safe from any thread.

        Raises:
            ValueError: ``rung`` is not a rung.
        """
        self._requested = Rung(rung)

    # -- reporting -------------------------------------------------------------------------------------------------
    def ref(self) -> BotRef:
        current = self.accounts.current if self.accounts is not None else None
        return BotRef(self.spec.group, self.spec.bot, self.spec.serial, self.spec.host, self.flow_run_id,
                      current.device_account if current is not None else self.status.account)

    def set(self, **fields: object) -> None:
        if self.accounts is not None:
            current = self.accounts.current
            fields.setdefault("account", current.device_account if current else self.status.account)
            fields.update(accounts_completed=self.accounts.completed, accounts_failed=self.accounts.failed)
        status = self.status.model_copy(update=fields)
        if status != self.status:
            self.status = status
            self.observer.status(status)

    def emit(self, kind: str, **payload: str | int | float | bool | None) -> None:
        self.observer.event(BotEvent(EventKind(kind), self.ref(), dict(payload)))

    def _account_changed(self, kind: str, account: AccountRef, reason: str | None) -> None:
        """From a bot thread: an account lease changed; reported as an event on the event loop."""
        ref = self.ref().with_account(account.device_account)
        event = BotEvent(EventKind(kind), ref, {"pool": account.pool, "reason": reason})
        self._loop.call_soon_threadsafe(self.observer.event, event)

    # -- the life of a bot -----------------------------------------------------------------------------------------
    async def run(self) -> BotResult:
        """Play until done, failed past the restart cap, given up, or stopped. Never raises for bot failures."""
        keep_large_blocks_mapped()  # freed frames go back to the system: hours of captures (emufleet.heap)
        started = time.perf_counter()
        attempts, restarts, outcome, error = 0, 0, "failed", None
        ticker: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        if self.accounts is not None:
            self.accounts.on_change = self._account_changed
        policy = self.spec.restart_policy
        try:
            restarts = await self._open_retrying()
            self.emit("bot.started", routine=self.spec.routine)
            ticker = asyncio.get_running_loop().create_task(self._supervise(), name="emufleet-supervisor")
            while not self._stopping:
                attempts += 1
                self.set(state=BotState.RUNNING, restarts=restarts)
                outcome, error = await self._attempt()
                if self._stopping and outcome != "lock_taken":
                    outcome = "stopped"
                await self.call(self._settle, outcome, error)
                if outcome == "failed":
                    self.errors.append(error or "failed")
                    if self.supervisor is not None:
                        self.supervisor.metrics.failed("attempt")
                    self.emit("bot.attempt-failed", attempt=attempts, error=error)
                    log.warning("bot %s attempt %d failed: %s", self.spec.bot, attempts, error)
                    if not self.budget.spend():
                        outcome, error = "gave_up", f"failure budget spent: {error}"
                if outcome in ("stopped", "drained", "gave_up", "lock_taken"):
                    break
                if outcome == "succeeded" and self.spec.repeat:
                    continue  # the next account; not a restart
                if not policy.should_restart(succeeded=outcome == "succeeded", restarts_done=restarts):
                    break
                restarts += 1
                delay = policy.delay_s(restarts)
                self.set(state=BotState.RESTARTING, restarts=restarts, error=error)
                log.info("bot %s: restart %d/%d in %.1f s", self.spec.bot, restarts, policy.max_restarts, delay)
                await self._sleep(delay)
        except Exception as exc:  # setting up the bot failed (device, pools): no attempt can run
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
            self.errors.append(error)
            log.error("bot %s could not start: %s", self.spec.bot, error)
        finally:
            if ticker is not None:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
            self.cancel.set()
            self.controller.stop()
            if self.accounts is not None:
                reason = f"gave up: {error}" if outcome == "gave_up" else "bot ended"
                with contextlib.suppress(Exception):
                    await self.call(self.accounts.close, reason)
        if outcome == "gave_up":
            self.emit("bot.gave-up", reason=error, failures=self.budget.recent)
        final = self._final_state(outcome)
        self.set(state=final, step=None, restarts=restarts,
                 error=None if final is not BotState.FAILED else error)
        wall = time.perf_counter() - started
        # the clocks ride on the last event: a bot on another host returns its BotResult only in its own process
        self.emit("bot.finished", state=str(final), reason=error, steps_done=self.status.steps_done,
                  wall_s=round(wall, 6), step_s=round(self.step_s, 6), engine_s=round(self.engine_s, 6))
        return BotResult(status=self.status, attempts=attempts, wall_s=wall,
                         step_s=self.step_s, engine_s=self.engine_s, errors=self.errors, faults=self.faults,
                         recoveries=dict(self.recoveries), gave_up=error if outcome == "gave_up" else None,
                         captures=self.supervisor.captures if self.supervisor is not None else 0)

    async def _open_retrying(self) -> int:
        """Open the device (:meth:`_open`); a device that cannot be opened yet (``adb connect`` refused, the emulator
        still booting or restarting) is retried under the restart policy and the failure budget, as a failed attempt
        would be. Returns the restarts it used.

        Raises:
            DeviceError: the last failure, once the policy, the budget or a stop ends the retries.
        """
        policy, restarts = self.spec.restart_policy, 0
        while True:
            try:
                await self.call(self._open)
                return restarts
            except DeviceError as exc:
                error = f"{type(exc).__name__}: {exc}"
                if (self._stopping or not policy.should_restart(succeeded=False, restarts_done=restarts)
                        or not self.budget.spend()):
                    raise
                restarts += 1
                delay = policy.delay_s(restarts)
                self.errors.append(error)
                self.set(state=BotState.RESTARTING, restarts=restarts, error=error)
                log.warning("bot %s could not open its device (%s): retry %d/%d in %.1f s", self.spec.bot, error,
                            restarts, policy.max_restarts, delay)
                await self._sleep(delay)

    def _final_state(self, outcome: str) -> BotState:
        if outcome in ("stopped", "lock_taken"):
            return BotState.STOPPED
        return BotState.COMPLETED if outcome in ("succeeded", "drained") else BotState.FAILED

    def _adb_connect(self) -> RecoverableDevice:
        from emufleet.device import connect

        return connect(self.spec.serial, timeout_s=self.spec.connect_timeout_s)

    def _open(self) -> None:
        """Connect and ready the device, assemble the supervised context (bot thread)."""
        raw = self._connect()
        raw.wait_ready(timeout_s=self.spec.connect_timeout_s)
        self._raw = raw
        self.supervisor = Supervisor(self.spec, raw, self.fence, self.controller, self.accounts)
        device = SupervisedDevice(raw, self.fence, on_input=self.supervisor.on_input,
                                  on_frame=self.supervisor.on_frame, on_capture_error=self.supervisor.on_capture_error)
        self._device = device
        if self.accounts is not None:
            self.accounts.start_heartbeat()
        self.ctx = BotContext(device, self.assets.templates, self.assets.registry, self.controller,
                              accounts=self.accounts, on_event=self._step_event,
                              bot_id=f"{self.spec.group}/{self.spec.bot}", group_config=self.spec.routine_config,
                              on_match=self.supervisor.on_match)

    def _step_event(self, event: StepEvent) -> None:
        assert self.supervisor is not None
        self.supervisor.on_step_event(event)
        if self._on_step is not None:
            self._on_step(event)

    def _settle(self, outcome: str, error: str | None) -> None:
        """After an attempt, an account still current failed with it, or goes back to the pool."""
        if self.accounts is None or self.accounts.current is None:
            return
        if outcome == "failed":
            self.accounts.mark_failed(None, error or "routine failed")
        elif outcome != "gave_up":  # a give-up returns it with the reason when the accounts close
            self.accounts.return_account(None, reason=f"routine {outcome} without finishing the account")

    async def _sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` unless stopped first."""
        self._woken.clear()
        if not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), timeout=seconds)

    async def _until_stopped(self, awaitable: Awaitable[object]) -> None:
        """Await ``awaitable`` unless stopped first (then it is cancelled)."""
        waiter = asyncio.ensure_future(awaitable)
        self._woken.clear()
        stopped = asyncio.ensure_future(self._woken.wait())
        try:
            if not self._stopping:
                await asyncio.wait({waiter, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopped.cancel()

    # -- one attempt -----------------------------------------------------------------------------------------------
    async def _attempt(self) -> tuple[Outcome, str | None]:
        """One run of the routine, with recoveries inside it: ``(outcome, error)``. Never raises."""
        assert self.ctx is not None and self.supervisor is not None
        self.ctx.variables.clear_non_persistent()  # digest §2.3: only persistent variables outlive an attempt
        self.controller.reset()
        run = RoutineRun(self.assets.registry.get(self.spec.routine), self.ctx, overrides=self.spec.routine_config)
        index = 0
        self.supervisor.progress()
        self._incident.reset()
        try:
            await self.call(run.start)
            if self._go is not None:  # the start barrier; a stop ends the wait
                go, self._go = self._go, None
                self._holding = True
                try:
                    await self._until_stopped(go())
                finally:
                    self._holding = False
                self.supervisor.progress()  # the wait was not being stuck
            while index < len(run.steps):
                if self._stopping:
                    return "stopped", None
                label = step_label(run, index)
                self.set(step=label)
                started = time.perf_counter()
                result = await self.steps(run, index, label)
                fault, self._fault = self._fault, None
                if self._stopping:
                    return "stopped", None
                if result.kind == "completed":
                    self.step_s += time.perf_counter() - started
                    self.engine_s += result.engine_s
                    self._progressed(index, label)
                    index += 1
                    self.observer.progress(index, len(run.steps))
                elif result.kind == "drained":
                    return "drained", result.message
                elif fault is None and result.kind == "failed":
                    kind = classify(result.error)
                    if kind is None or (not self.spec.recovery.enabled and kind is not FaultKind.LOCK_LOST):
                        return "failed", _describe(result.error)
                    fault = Fault(kind, _describe(result.error) or kind.value)
                elif fault is None and result.kind == "unavailable":
                    await self._sleep(LOCK_RETRY_S)  # the orchestrator is away: the fence says how long we may go on
                    continue
                elif fault is None:  # stopped by the routine itself (a sentry's graceful stop)
                    return "stopped", None
                if fault is None:
                    continue
                await self.call(run.close)
                verdict = await self._recover(fault, run, index)
                if verdict != "resumed":
                    return verdict, fault.message
                index = _resume_index(run, index)
        except Exception as exc:  # a config error at start, a registry miss: the attempt fails
            return "failed", _describe(exc)
        finally:
            with contextlib.suppress(Exception):
                await self.call(run.close)
        return "succeeded", None

    def _progressed(self, index: int, label: str) -> None:
        assert self.supervisor is not None
        self.supervisor.progress()
        self._incident.completed(index)
        self.set(steps_done=self.status.steps_done + 1)
        now = time.monotonic()
        if now - self._last_step_event >= STEP_EVENT_EVERY_S:
            self._last_step_event = now
            self.emit("bot.step-completed", step=label, steps_done=self.status.steps_done)

    # -- supervision -----------------------------------------------------------------------------------------------
    async def _supervise(self) -> None:
        """Every tick: quick checks; every ``health.interval``: a health check; every 10 s: a heartbeat event."""
        assert self.supervisor is not None
        sup = self.supervisor
        next_health = time.monotonic() + self.spec.health.interval
        next_beat = time.monotonic()
        last_health: str | None = None
        paused = False
        while True:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            if not self._recovering and self.controller.paused != paused:  # an operator's pause: no progress expected
                paused = self.controller.paused
                self.emit("bot.paused" if paused else "bot.resumed", step=self.status.step)
            if now >= next_beat:
                next_beat = now + HEARTBEAT_S
                report = sup.last_report
                self.emit("bot.heartbeat", state=str(self.status.state), steps_done=self.status.steps_done,
                          capture_p50_ms=report.capture_ms_p50 if report else None,
                          capture_p95_ms=report.capture_ms_p95 if report else None, **sup.metrics.payload())
            if self._holding:  # at the start barrier: the first health check comes an interval after it
                next_health = now + self.spec.health.interval
                continue
            if self._recovering or self.status.state in TERMINAL_STATES:
                continue
            if self._requested is not None and self.status.state is BotState.RUNNING and self._fault is None \
                    and not self._stopping:
                rung, self._requested = self._requested, None
                self._fault = Fault(FaultKind.OPERATOR, f"an operator asked for {rung}",
                                    {"rung": str(rung), "paused": self.controller.paused})
                self.controller.stop()  # the step raises RoutineStopped; the attempt loop takes the rung
                continue
            fault = sup.quick_check()
            if fault is None and now >= next_health:
                next_health = now + self.spec.health.interval
                try:
                    report, fault = await self.call(sup.health_check)
                except Exception as exc:  # the check itself never should; a bug must not kill supervision
                    log.warning("bot %s: health check failed: %s", self.spec.bot, exc)
                    continue
                text = health_text(report)
                if text != last_health:
                    kind = "instance.healthy" if not report.problems else "instance.unhealthy"
                    self.emit(kind, check=text, detail="; ".join(report.messages) or None,
                              capture_p50_ms=report.capture_ms_p50, capture_p95_ms=report.capture_ms_p95,
                              foreground=report.foreground)
                    last_health = text
                    self.set(health=text)
            if fault is not None and not self._recovering and self._fault is None and not self._stopping:
                if self.controller.paused and fault.kind is not FaultKind.LOCK_LOST:
                    continue
                self._fault = fault
                self.controller.stop()  # the step raises RoutineStopped; the attempt loop recovers

    # -- recovery --------------------------------------------------------------------------------------------------
    async def _recover(self, fault: Fault, run: RoutineRun, index: int) -> Outcome | Literal["resumed"]:
        """Climb the ladder for ``fault`` (step ``index`` of ``run`` was interrupted): ``resumed``, or how the
        attempt ends (``gave_up``, ``stopped``, ``failed`` when recovery is disabled, ``lock_taken``). An operator's
        request (``FaultKind.OPERATOR``) takes its one rung first, without spending the budget."""
        assert self.supervisor is not None and self.ctx is not None
        self._recovering = True
        stay_paused = bool(fault.details.get("paused"))  # an operator's rung on a paused bot: it stays paused
        try:
            self.controller.reset()
            if fault.kind is FaultKind.OPERATOR:
                asked = Rung(str(fault.details["rung"]))
                verdict = await self._climb(asked, "operator", run, index)
                if verdict != "rung_failed":
                    return verdict
                fault = Fault(FaultKind.DEVICE_ERROR, f"the operator's {asked} did not bring the bot back")
            if fault.kind is FaultKind.LOCK_LOST:
                self.supervisor.metrics.failed(str(fault.kind))
                return await self._regain_lock(fault)
            self.faults += 1
            self.supervisor.metrics.failed(str(fault.kind))
            reason = f"{fault.kind}: {fault.message}"
            if not self.spec.recovery.enabled:
                await self._evidence(reason)
                return "failed"
            if fault.kind in (FaultKind.STUCK, FaultKind.CLICK_LOOP, FaultKind.STEP_TIMEOUT):
                self.emit("bot.stuck", reason=str(fault.kind), step=self.status.step, message=fault.message,
                          **{k: v for k, v in fault.details.items() if k not in ("reason", "step", "message")})
            elif "problem" not in fault.details:  # a health check's fault was reported by its health change already
                self.emit("instance.unhealthy", check=str(fault.kind), detail=fault.message, step=self.status.step)
            await self._evidence(reason)
            if not self.budget.spend():
                return "gave_up"
            self._incident.interrupted(index, fault.kind)
            while not self._stopping:
                report, _ = await self.call(self.supervisor.health_check)
                rung = self._incident.next_rung(fault.kind, adb_alive=report.adb_alive, skip=self._unavailable())
                if rung is None:
                    return "gave_up"
                self._incident.took(rung)
                verdict = await self._climb(rung, str(fault.kind), run, index)
                if verdict != "rung_failed":
                    return verdict
            return "stopped"
        finally:
            self.controller.reset()
            if self._stopping:
                self.controller.stop()
            elif stay_paused:
                self.controller.pause()
            self._recovering = False

    async def _climb(self, rung: Rung, cause: str, run: RoutineRun,
                     index: int) -> Outcome | Literal["resumed", "rung_failed"]:
        """Take ``rung`` for ``cause`` (a fault kind, or ``"operator"``) and verify it on fresh probes:
        ``resumed``, ``rung_failed``, or how the attempt ends (``stopped``, ``lock_taken``)."""
        assert self.supervisor is not None
        reason = "operator" if cause == "operator" else "fault"
        self.set(state=BotState.RECOVERING, step=f"recovery: {rung}")
        self.emit("bot.recovering", rung=str(rung), fault=cause, reason=reason, failures=self.budget.recent)
        log.info("bot %s: %s → rung %s", self.spec.bot, cause, rung)
        try:
            await self._take(rung)
            # Verify on fresh probes and a fresh capture: frame statistics from before the rung would
            # condemn it; a screen still frozen shows again as the routine goes on (the next rung then).
            report, still = await self.call(self.supervisor.check_after_rung)
            if still is not None and still.kind is not FaultKind.APP_NOT_FOREGROUND:
                raise DeviceError(still.message, serial=self.spec.serial)
        except Exception as exc:
            if self._stopping:
                return "stopped"
            if isinstance(exc, InstanceLockLost):
                return await self._regain_lock(Fault(FaultKind.LOCK_LOST, str(exc)))
            log.warning("bot %s: rung %s did not recover: %s", self.spec.bot, rung, exc)
            self.emit("bot.rung-failed", rung=str(rung), error=_describe(exc), reason=reason)
            return "rung_failed"
        self.recoveries[str(rung)] += 1
        self.supervisor.metrics.recovered(str(rung), reason)
        self.supervisor.forget_health()  # a problem the check tolerated (the app still starting) counts anew
        self.supervisor.progress()
        self.set(state=BotState.RUNNING, recoveries=sum(self.recoveries.values()), health=health_text(report))
        self.emit("bot.recovered", rung=str(rung), fault=cause, reason=reason,
                  resume_at=step_label(run, _resume_index(run, index)))
        return "resumed"

    def _unavailable(self) -> frozenset[Rung]:
        skip = set()
        recovery = self.spec.recovery
        if recovery.routine is None or recovery.routine not in self.assets.registry:
            skip.add(Rung.ROUTINE)
        return frozenset(skip)

    async def _take(self, rung: Rung) -> None:
        from emufleet.bot import rungs

        assert self.ctx is not None and self._device is not None
        device, timeout = self._device, self.spec.recovery.ready_timeout
        if rung is Rung.ROUTINE:
            assert self.spec.recovery.routine is not None
            loop = asyncio.get_running_loop()
            timer = loop.call_later(self.spec.recovery.routine_timeout, self.controller.stop)
            try:
                await self.call(rungs.run_recovery_routine, self.ctx, self.spec.recovery.routine)
            finally:
                timer.cancel()
        elif rung is Rung.RESTART_APP:
            await self.call(rungs.restart_app, device, self.accounts)
        elif rung is Rung.RESTART_INSTANCE:
            await self.call(lambda: rungs.restart_instance(device, self.spec, timeout_s=timeout))
            await self.call(rungs.restart_app, device, self.accounts)
        else:
            raw = self._raw
            assert raw is not None  # set with _device in _open
            await self.call(lambda: rungs.reconnect(raw, timeout_s=timeout))

    async def _regain_lock(self, fault: Fault) -> Outcome | Literal["resumed"]:
        """Fencing: input has stopped; take the lock again, or end stopped if another run holds the instance."""
        self.emit("bot.lock-lost", reason=fault.message, reacquired=None)
        self.set(state=BotState.RECOVERING, step="waiting for the instance lock")
        if self.lease is None:
            return "lock_taken"
        deadline = time.monotonic() + LOCK_GIVE_UP_S
        while not self._stopping and time.monotonic() < deadline:
            try:
                held = await self.lease.reacquire()
            except Exception as exc:  # the lock service is unreachable: input stays fenced, try again
                log.info("bot %s: instance lock not re-acquired yet: %s", self.spec.bot, exc)
                await self._sleep(LOCK_RETRY_S)
                continue
            if not held:
                self.emit("bot.lock-lost", reason="another run holds the instance", reacquired=False)
                return "lock_taken"
            assert self.supervisor is not None
            self.supervisor.progress()
            self.set(state=BotState.RUNNING)
            self.emit("bot.recovered", rung="reacquire_lock", fault=str(fault.kind), reason="fault")
            self.recoveries["reacquire_lock"] += 1
            self.supervisor.metrics.recovered("reacquire_lock", "fault")
            return "resumed"
        return "stopped" if self._stopping else "lock_taken"

    async def _evidence(self, reason: str) -> None:
        assert self.supervisor is not None
        if self.evidence_dir is None or self.spec.recovery.evidence_frames == 0:
            return
        try:
            frames = await self.call(self.supervisor.evidence, self.evidence_dir, reason)
        except Exception as exc:  # evidence is a courtesy: never let it fail the bot
            log.warning("bot %s: failure evidence not written: %s", self.spec.bot, exc)
            return
        if frames:
            self.set(last_failure=str(frames[-1]))
            recorder = self.supervisor.recorder
            self.observer.evidence(reason, frames, recorder.step, recorder.scores)


def _resume_index(run: RoutineRun, index: int) -> int:
    """Where the routine resumes after a recovery: the last checkpoint step at or before ``index``, else 0."""
    return next((i for i in range(min(index, len(run.steps) - 1), -1, -1) if run.steps[i].checkpoint), 0)


def _describe(exc: BaseException | None) -> str | None:
    return None if exc is None else f"{type(exc).__name__}: {exc}"
