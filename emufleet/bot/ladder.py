"""The recovery ladder at work: what the attempt runner hands an :class:`~emufleet.bot.interrupt.Interrupt` to.

:class:`RecoveryLadder` handles an interrupt by its :class:`~emufleet.bot.interrupt.Handler`: an operator's rung
first (no budget spent; a rung that does not bring the bot back becomes a ``device_error`` fault), a lost instance
lock by re-acquiring it, a fault by spending the failure budget and climbing the rungs of its incident
(:mod:`emufleet.bot.recovery` picks them, :mod:`emufleet.bot.rungs` takes them) until one is verified on fresh
probes. It always runs inside the attempt runner's ``scope.shielded("recovering")``: nothing can interrupt it
but a stop, and no fault seen before it can outlive it. Its answer is an :class:`~emufleet.outcome.Outcome`:
``RESUMED`` (with :attr:`RecoveryLadder.resume_at`, where the routine goes on), or how the attempt ends
(``GAVE_UP``, ``STOPPED``, ``FAILED`` with recovery disabled, ``LOCK_TAKEN``).

Where the routine resumes: at the last ``checkpoint`` step at or before the interrupted one, else at its start;
but after a ``reconnect`` that finds the same app on the same screen as before the fault (the adb connection
blipped, nothing on the device changed), at the interrupted step itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from emufleet.bot import rungs
from emufleet.bot.events import EventKind
from emufleet.bot.fence import Fence
from emufleet.bot.interrupt import Handler, Interrupt, InterruptScope
from emufleet.bot.recovery import FailureBudget, Fault, FaultKind, Incident, Rung
from emufleet.bot.steps import BlockingCall, step_label
from emufleet.bot.supervisor import AppState, health_text
from emufleet.errors import DeviceError, InstanceLockLost
from emufleet.groups.status import BotState
from emufleet.outcome import Outcome
from emufleet.routines import RoutineRun

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.opened import OpenedDevice
    from emufleet.bot.reporter import Reporter
    from emufleet.bot.spec import BotSpec
    from emufleet.bot.supervisor import Supervisor

__all__ = ["LOCK_GIVE_UP_S", "LOCK_RETRY_S", "InstanceLease", "RecoveryLadder", "describe", "resume_index"]

log = logging.getLogger(__name__)
LOCK_RETRY_S = 2.0
LOCK_GIVE_UP_S = 600.0
STUCK_KINDS = (FaultKind.STUCK, FaultKind.CLICK_LOOP, FaultKind.STEP_TIMEOUT)


class InstanceLease(Protocol):
    """The bot's instance lock as the engine sees it: its fence, and a way to take it again after a loss."""

    fence: Fence

    async def reacquire(self) -> bool:
        """Take the lock again: ``True`` when held (the fence reopened), ``False`` when another run holds it.
        Raises when the lock service cannot be reached (the ladder retries)."""
        ...


def describe(exc: BaseException | None) -> str | None:
    """``"<type>: <message>"`` of an error, for statuses and events."""
    return None if exc is None else f"{type(exc).__name__}: {exc}"


def resume_index(run: RoutineRun, index: int) -> int:
    """Where the routine resumes after a recovery: the last checkpoint step at or before ``index``, else 0."""
    return next((i for i in range(min(index, len(run.steps) - 1), -1, -1) if run.steps[i].checkpoint), 0)


class RecoveryLadder:
    """Recovers one bot (see the module docstring). Runs on the bot's event loop; device work goes through ``call``.

    Args:
        spec: the bot. assets: its routine registry (is the recovery routine there?). call: runs blocking work.
        reporter: status and events. scope: the bot's interrupt scope (is it stopping?). device: the opened device
            (raw, supervised, context, supervisor). budget: the failure budget. accounts: re-injected by
            ``restart_app``. lease: the instance lock (``None``: no lock; a lost fence then ends the bot).
    """

    def __init__(self, spec: BotSpec, assets: EngineAssets, *, call: BlockingCall, reporter: Reporter,
                 scope: InterruptScope, device: OpenedDevice, budget: FailureBudget,
                 accounts: BotAccounts | None = None, lease: InstanceLease | None = None) -> None:
        self.spec = spec
        self.assets = assets
        self.call = call
        self.reporter = reporter
        self.scope = scope
        self.device = device
        self.budget = budget
        self.accounts = accounts
        self.lease = lease
        self.incident = Incident(spec.recovery.rungs)
        self.resume_at = 0  # where the routine resumes after RESUMED

    @property
    def supervisor(self) -> Supervisor:
        return self.device.supervisor

    async def recover(self, interrupt: Interrupt, run: RoutineRun, index: int) -> Outcome:
        """Handle ``interrupt``, which stopped step ``index`` of ``run``; marks it handled. See the module doc."""
        fault = interrupt.fault
        before = self.supervisor.app_state()
        self.resume_at = resume_index(run, index)
        try:
            if interrupt.handler is Handler.OPERATOR:
                assert interrupt.rung is not None
                verdict = await self._climb(interrupt.rung, "operator", run, index)
                if verdict is not None:
                    return verdict
                fault = Fault(FaultKind.DEVICE_ERROR, f"the operator's {interrupt.rung} did not bring the bot back")
            if interrupt.handler is Handler.LOCK:
                self.supervisor.metrics.failed(str(fault.kind))
                return await self.regain_lock(fault)
            return await self._fault(fault, run, index, before)
        finally:
            interrupt.handle(f"recovery ({interrupt.handler})")

    async def _fault(self, fault: Fault, run: RoutineRun, index: int, before: AppState) -> Outcome:
        tally, reporter = self.reporter.tally, self.reporter
        tally.faults += 1
        self.supervisor.metrics.failed(str(fault.kind))
        reason = f"{fault.kind}: {fault.message}"
        if not self.spec.recovery.enabled:
            await reporter.evidence(self.supervisor, reason, self.call)
            return Outcome.FAILED
        if fault.kind in STUCK_KINDS:
            details = fault.details
            reporter.emit(EventKind.STUCK, reason=str(fault.kind), step=reporter.status.step, message=fault.message,
                          idle_s=details.get("idle_s"), stuck_after_s=details.get("stuck_after_s"),
                          window=details.get("window"))
        elif "problem" not in fault.details:  # a health check's fault was reported by its health change already
            reporter.emit(EventKind.INSTANCE_UNHEALTHY, check=str(fault.kind), detail=fault.message,
                          step=reporter.status.step)
        await reporter.evidence(self.supervisor, reason, self.call)
        if not self.budget.spend():
            return Outcome.GAVE_UP
        self.incident.interrupted(index, fault.kind)
        while not self.scope.stopping:
            report, _ = await self.call(self.supervisor.health_check)
            rung = self.incident.next_rung(fault.kind, adb_alive=report.adb_alive, skip=self._unavailable())
            if rung is None:
                return Outcome.GAVE_UP
            self.incident.took(rung)
            verdict = await self._climb(rung, str(fault.kind), run, index, before)
            if verdict is not None:
                return verdict
        return Outcome.STOPPED

    async def _climb(self, rung: Rung, cause: str, run: RoutineRun, index: int,
                     before: AppState | None = None) -> Outcome | None:
        """Take ``rung`` for ``cause`` (a fault kind, or ``"operator"``) that interrupted step ``index`` and verify it
        on fresh probes: ``RESUMED``, ``None`` (the rung failed: climb on), or how the attempt ends (``STOPPED``,
        ``LOCK_TAKEN``). ``before``: the app and screen before the fault (a reconnect that finds them unchanged
        resumes at ``index``)."""
        reporter, supervisor = self.reporter, self.supervisor
        reason = "operator" if cause == "operator" else "fault"
        reporter.set(state=BotState.RECOVERING, step=f"recovery: {rung}")
        reporter.emit(EventKind.RECOVERING, rung=str(rung), fault=cause, reason=reason, failures=self.budget.recent)
        log.info("bot %s: %s → rung %s", self.spec.bot, cause, rung)
        try:
            await self._take(rung)
            # Verify on fresh probes and a fresh capture: frame statistics from before the rung would
            # condemn it; a screen still frozen shows again as the routine goes on (the next rung then).
            report, still = await self.call(supervisor.check_after_rung)
            if still is not None and still.kind is not FaultKind.APP_NOT_FOREGROUND:
                raise DeviceError(still.message, serial=self.spec.instance.serial)
        except Exception as exc:
            if self.scope.stopping:
                return Outcome.STOPPED
            if isinstance(exc, InstanceLockLost):
                return await self.regain_lock(Fault(FaultKind.LOCK_LOST, str(exc)))
            log.warning("bot %s: rung %s did not recover: %s", self.spec.bot, rung, exc)
            reporter.emit(EventKind.RUNG_FAILED, rung=str(rung), error=describe(exc), reason=reason)
            return None
        if rung is Rung.RECONNECT and before is not None and supervisor.app_state().unchanged_since(before):
            self.resume_at = index  # only the connection blipped, nothing changed on the device: go on there
        reporter.tally.recoveries[str(rung)] += 1
        supervisor.metrics.recovered(str(rung), reason)
        supervisor.forget_health()  # a problem the check tolerated (the app still starting) counts anew
        supervisor.progress()
        reporter.set(state=BotState.RUNNING, recoveries=dict(reporter.tally.recoveries),
                     health=health_text(report))
        reporter.emit(EventKind.RECOVERED, rung=str(rung), fault=cause, reason=reason,
                      resume_at=step_label(run, self.resume_at))
        return Outcome.RESUMED

    def _unavailable(self) -> frozenset[Rung]:
        recovery = self.spec.recovery
        if recovery.routine is None or recovery.routine not in self.assets.registry:
            return frozenset({Rung.ROUTINE})
        return frozenset()

    async def _take(self, rung: Rung) -> None:
        opened, timeout = self.device, self.spec.recovery.ready_timeout
        device, raw = opened.device, opened.raw
        if rung is Rung.ROUTINE:
            assert self.spec.recovery.routine is not None
            # the rung's own time limit; the shield around the recovery resets the controller afterwards
            timer = asyncio.get_running_loop().call_later(self.spec.recovery.routine_timeout,
                                                          opened.ctx.controller.stop)
            try:
                await self.call(rungs.run_recovery_routine, opened.ctx, self.spec.recovery.routine)
            finally:
                timer.cancel()
        elif rung is Rung.RESTART_APP:
            await self.call(rungs.restart_app, device, self.accounts)
        elif rung is Rung.RESTART_INSTANCE:
            await self.call(lambda: rungs.restart_instance(device, self.spec, timeout_s=timeout))
            await self.call(rungs.restart_app, device, self.accounts)
        else:
            await self.call(lambda: rungs.reconnect(raw, timeout_s=timeout))

    async def regain_lock(self, fault: Fault) -> Outcome:
        """Fencing: input has stopped; take the lock again, or end (``LOCK_TAKEN``) if another run holds it."""
        reporter = self.reporter
        reporter.emit(EventKind.LOCK_LOST, reason=fault.message, reacquired=None)
        reporter.set(state=BotState.RECOVERING, step="waiting for the instance lock")
        if self.lease is None:
            return Outcome.LOCK_TAKEN
        deadline = time.monotonic() + LOCK_GIVE_UP_S
        while not self.scope.stopping and time.monotonic() < deadline:
            try:
                held = await self.lease.reacquire()
            except Exception as exc:  # the lock service is unreachable: input stays fenced, try again
                log.info("bot %s: instance lock not re-acquired yet: %s", self.spec.bot, exc)
                await self.scope.sleep(LOCK_RETRY_S)
                continue
            if not held:
                reporter.emit(EventKind.LOCK_LOST, reason="another run holds the instance", reacquired=False)
                return Outcome.LOCK_TAKEN
            self.supervisor.progress()
            reporter.tally.recoveries["reacquire_lock"] += 1
            reporter.set(state=BotState.RUNNING, recoveries=dict(reporter.tally.recoveries))
            reporter.emit(EventKind.RECOVERED, rung="reacquire_lock", fault=str(fault.kind), reason="fault")
            self.supervisor.metrics.recovered("reacquire_lock", "fault")
            return Outcome.RESUMED
        return Outcome.STOPPED if self.scope.stopping else Outcome.LOCK_TAKEN
