"""The supervision loop of a running bot: what turns the :class:`~emufleet.bot.supervisor.Supervisor`'s verdicts
into interrupts, health events and heartbeats.

Every ``tick_s`` (0.5 s) the :class:`SupervisionLoop` reports a pause or resume, every ``health.heartbeat`` (10 s) a
``bot.heartbeat`` (whatever the bot is doing), and while an attempt runs unshielded: the quick checks (fence,
click loop, no progress), and every ``health.interval`` a health check (its change of verdict is an
``instance.healthy`` / ``instance.unhealthy`` event). A fault becomes an :class:`~emufleet.bot.interrupt.Interrupt`
raised in the scope the check *began* in: a verdict reached on a device that a recovery has since restarted is
refused as stale. Faults other than a lost lock wait while an operator has paused the bot.

It never decides how to recover and never writes the attempt runner's state: the interrupt scope is the only
thing both see.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from emufleet.bot.events import EventKind
from emufleet.bot.interrupt import Interrupt, InterruptScope
from emufleet.bot.recovery import Fault, FaultKind
from emufleet.bot.steps import BlockingCall
from emufleet.bot.supervisor import health_text

if TYPE_CHECKING:
    from emufleet.bot.health import HealthReport
    from emufleet.bot.reporter import Reporter
    from emufleet.bot.spec import BotSpec
    from emufleet.bot.supervisor import Supervisor

__all__ = ["TICK_S", "SupervisionLoop"]

log = logging.getLogger(__name__)
TICK_S = 0.5


class SupervisionLoop:
    """Supervises one bot until cancelled (see the module docstring).

    Args:
        spec: the bot (its ``health.interval`` and ``health.heartbeat``). supervisor: the detectors. scope: where
            faults are raised. reporter: events and status. call: runs the blocking health check. tick_s: seconds
            between quick checks.
    """

    def __init__(self, spec: BotSpec, supervisor: Supervisor, *, scope: InterruptScope, reporter: Reporter,
                 call: BlockingCall, tick_s: float = TICK_S) -> None:
        self.spec = spec
        self.supervisor = supervisor
        self.scope = scope
        self.reporter = reporter
        self.call = call
        self.tick_s = tick_s
        self._last_health: str | None = None
        self._paused = False

    async def run(self) -> None:
        """Supervise until cancelled. A health check that raises (a bug) is logged; supervision goes on."""
        now = time.monotonic()
        next_health, next_beat = now + self.spec.health.interval, now
        while True:
            await asyncio.sleep(self.tick_s)
            now = time.monotonic()
            self._pause_events()
            if now >= next_beat:
                next_beat = now + self.spec.health.heartbeat
                self.reporter.heartbeat(self.supervisor)
            if self.scope.shield is not None or self.scope.stopping:
                if self.scope.shield == "barrier":  # the first health check comes an interval after the barrier
                    next_health = now + self.spec.health.interval
                continue
            generation = self.scope.generation
            fault = self.supervisor.quick_check()
            if fault is None and now >= next_health:
                next_health = now + self.spec.health.interval
                fault = await self._health_check()
            if fault is not None:
                self._raise(fault, generation)

    def _pause_events(self) -> None:
        paused = self.scope.controller.paused
        if self.scope.shield != "recovering" and paused != self._paused:  # an operator's pause or resume
            self._paused = paused
            self.reporter.emit(EventKind.PAUSED if paused else EventKind.RESUMED, step=self.reporter.status.step)

    async def _health_check(self) -> Fault | None:
        try:
            checked: tuple[HealthReport, Fault | None] = await self.call(self.supervisor.health_check)
        except Exception as exc:  # the check itself never should; a bug must not kill supervision
            log.warning("bot %s: health check failed: %s", self.spec.bot, exc)
            return None
        report, fault = checked
        text = health_text(report)
        if text != self._last_health:
            self.reporter.emit(EventKind.INSTANCE_HEALTHY if not report.problems else EventKind.INSTANCE_UNHEALTHY,
                               check=text, detail="; ".join(report.messages) or None,
                               capture_p50_ms=report.capture_ms_p50, capture_p95_ms=report.capture_ms_p95,
                               foreground=report.foreground)
            self._last_health = text
            self.reporter.set(health=text)
        return fault

    def _raise(self, fault: Fault, generation: int) -> None:
        if self.scope.controller.paused and fault.kind is not FaultKind.LOCK_LOST:
            return  # an operator paused the bot: no progress is expected, the device is theirs to look at
        interrupt = Interrupt.for_fault(fault)
        if not self.scope.interrupt(interrupt, generation=generation):
            log.debug("bot %s: %s not raised (%s)", self.spec.bot, fault.kind, interrupt.handled_by)
