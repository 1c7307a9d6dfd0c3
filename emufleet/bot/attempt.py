"""One attempt of a bot's routine: the step loop, and the hand-off to the recovery ladder.

:class:`AttemptRunner` runs the routine step by step through the session's step runner
(:data:`~emufleet.bot.steps.StepRunner`) inside ``scope.running()``. When a step returns it takes the pending
:class:`~emufleet.bot.interrupt.Interrupt` (supervision stopped the step for it), or makes one of the step's own
device error, and hands it to the :class:`~emufleet.bot.ladder.RecoveryLadder` inside
``scope.shielded("recovering")``, with no await in between: a fault seen before the recovery can neither interrupt
it nor be spent after it. A ``RESUMED`` recovery goes on at the ladder's ``resume_at``.

The attempt's answer is ``(Outcome, error)``: ``COMPLETED`` (the routine ran to its end), ``FAILED`` (a routine
failure, or a fault with recovery disabled: the restart policy decides), ``STOPPED``, ``DRAINED``, ``GAVE_UP``,
``LOCK_TAKEN``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from emufleet.bot.interrupt import Handler, Interrupt, InterruptScope
from emufleet.bot.ladder import LOCK_RETRY_S, RecoveryLadder, describe
from emufleet.bot.recovery import Fault, FaultKind
from emufleet.bot.steps import BlockingCall, StepOutcome, StepRunner, step_label
from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    InstanceLockLost,
    ScreenshotError,
    StepTimeoutError,
)
from emufleet.outcome import Outcome
from emufleet.routines import RoutineRun

if TYPE_CHECKING:
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.opened import OpenedDevice
    from emufleet.bot.reporter import Reporter
    from emufleet.bot.spec import BotSpec

__all__ = ["AttemptRunner", "classify"]

log = logging.getLogger(__name__)


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


class AttemptRunner:
    """Runs attempts of ``spec.routine`` on an opened device (see the module docstring).

    Args:
        spec: the bot. assets: the routine registry (read at each attempt: a hot reload between attempts is
            seen by the next one). call: runs blocking work. steps: runs one top-level step. reporter: status.
        scope: the bot's interrupt scope. device: the opened device. ladder: recovers interrupted steps.
        go: awaited once, before the first step of the first attempt (a launch's start barrier).
    """

    def __init__(self, spec: BotSpec, assets: EngineAssets, *, call: BlockingCall, steps: StepRunner,
                 reporter: Reporter, scope: InterruptScope, device: OpenedDevice, ladder: RecoveryLadder,
                 go: Callable[[], Awaitable[object]] | None = None) -> None:
        self.spec = spec
        self.assets = assets
        self.call = call
        self.steps = steps
        self.reporter = reporter
        self.scope = scope
        self.device = device
        self.ladder = ladder
        self._go = go

    async def run(self) -> tuple[Outcome, str | None]:
        """One run of the routine, with recoveries inside it: ``(outcome, error)``. Never raises."""
        ctx, supervisor = self.device.ctx, self.device.supervisor
        ctx.variables.clear_non_persistent()  # digest §2.3: only persistent variables outlive an attempt
        run = RoutineRun(self.assets.registry.get(self.spec.routine), ctx, overrides=self.spec.routine_config)
        supervisor.progress()
        self.ladder.incident.reset()
        try:
            with self.scope.running():
                await self.call(run.start)
                if self._go is not None:  # the start barrier: not playing yet, nothing to supervise
                    go, self._go = self._go, None
                    with self.scope.shielded("barrier"):
                        await self.scope.until_stopped(go())
                    supervisor.progress()  # the wait was not being stuck
                return await self._steps(run)
        except Exception as exc:  # a config error at start, a registry miss: the attempt fails
            return Outcome.FAILED, describe(exc)
        finally:
            try:
                await self.call(run.close)
            except Exception as exc:  # closing twice is harmless; a close error must not hide the attempt's own
                log.info("bot %s: closing the routine run failed: %s", self.spec.bot, describe(exc))

    async def _steps(self, run: RoutineRun) -> tuple[Outcome, str | None]:
        index = 0
        while index < len(run.steps):
            if self.scope.stopping:
                return Outcome.STOPPED, None
            label = step_label(run, index)
            self.reporter.set(step=label)
            started = time.perf_counter()
            result = await self.steps(run, index, label)
            interrupt = self.scope.take()
            if self.scope.stopping:
                return Outcome.STOPPED, None
            if result.kind is Outcome.COMPLETED:
                self.device.supervisor.progress()
                self.ladder.incident.completed(index)
                self.reporter.step_done(label, index=index, total=len(run.steps),
                                        step_s=time.perf_counter() - started, engine_s=result.engine_s)
                index += 1
                if interrupt is None:
                    continue
            elif interrupt is None:
                if result.kind is Outcome.UNAVAILABLE:  # the orchestrator is away: the fence says how long we go on
                    await self.scope.sleep(LOCK_RETRY_S)
                    continue
                if result.kind is not Outcome.FAILED:  # drained; or stopped by the routine (a sentry's stop)
                    return result.kind, result.message
                interrupt = self._own(result)
                if interrupt is None:
                    return Outcome.FAILED, describe(result.error)
            verdict = await self._recover(interrupt, run, index)
            if verdict is not Outcome.RESUMED:
                return verdict, interrupt.fault.message
            index = self.ladder.resume_at
        return Outcome.COMPLETED, None

    def _own(self, result: StepOutcome) -> Interrupt | None:
        """The interrupt a step's own error raises: a fault, or ``None`` for a routine failure (or any fault but a
        lost lock with recovery disabled)."""
        kind = classify(result.error)
        if kind is None or (not self.spec.recovery.enabled and kind is not FaultKind.LOCK_LOST):
            return None
        return Interrupt.for_fault(Fault(kind, describe(result.error) or kind.value))

    async def _recover(self, interrupt: Interrupt, run: RoutineRun, index: int) -> Outcome:
        repause = interrupt.handler is Handler.OPERATOR and bool(interrupt.fault.details.get("paused"))
        with self.scope.shielded("recovering", repause=repause):  # no await since the step returned: no gap
            await self.call(run.close)
            return await self.ladder.recover(interrupt, run, index)
