"""What watches a running bot and turns what it sees into faults (docs/supervision.md).

One :class:`Supervisor` per bot gathers the device's reports (every input, every capture, every step event of
the main routine) and answers two questions for the session:

* :meth:`Supervisor.quick_check` (every tick, no device call): the fence closed, a click loop, no progress for
  ``stuck_after`` (the running step's own ``stuck_after`` if it declares one; never while the bot waits for an
  account or is paused: the clock is the controller's active time);
* :meth:`Supervisor.health_check` (every ``health.interval``, blocking: device calls): the health report, and
  the fault it means, if any: each registered check (:mod:`emufleet.bot.checks`) says which fault its problem is
  and how many checks in a row must see it (``app_not_foreground``: two; ``slow_capture``: no fault at all).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emufleet.bot.evidence import FrameRecorder
from emufleet.bot.fence import Fence
from emufleet.bot.health import HealthMonitor, HealthProblem, HealthReport, frame_digest
from emufleet.bot.metrics import BotMetrics
from emufleet.bot.recovery import Fault, FaultKind
from emufleet.bot.stuck import ClickLoopDetector, StuckDetector, StuckVerdict
from emufleet.routines.context import StepEvent
from emufleet.settings import GAME

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.spec import BotSpec
    from emufleet.device.interface import RecoverableDevice
    from emufleet.routines import Controller

__all__ = ["AppState", "Supervisor", "health_text"]

_log = logging.getLogger(__name__)

@dataclass(frozen=True, slots=True)
class AppState:
    """What the device showed: the app last seen in front, and the digest of the newest frame (``None``: none)."""

    foreground: str | None
    screen: int | None

    def unchanged_since(self, before: AppState) -> bool:
        """The same screen, pixel for pixel, as ``before``, with an app in front that is ``before``'s (when
        ``before`` knew it: a bot whose first check came with ADB already down did not)."""
        return (self.screen is not None and self.screen == before.screen and self.foreground is not None
                and before.foreground in (None, self.foreground))


def health_text(report: HealthReport | None) -> str | None:
    """The status record's ``health`` field: ``"ok"`` or the problems, comma-separated."""
    if report is None:
        return None
    return "ok" if not report.problems else ", ".join(str(p) for p in report.problems)


class Supervisor:
    """Health, stuck and click-loop detection and the evidence frames of one bot (thread-safe where it is fed)."""

    def __init__(self, spec: BotSpec, device: RecoverableDevice, fence: Fence, controller: Controller,
                 accounts: BotAccounts | None = None) -> None:
        recovery = spec.recovery
        self.fence = fence
        self.controller = controller
        self.accounts = accounts
        health = spec.health if spec.health.package is not None else \
            spec.health.model_copy(update={"package": GAME.package})  # a bot's app is the game
        self.health = HealthMonitor(device, health)
        self.stuck = StuckDetector(recovery.stuck_after, clock=controller.active_time)
        self.clicks = ClickLoopDetector(window=recovery.click_loop.window, single=recovery.click_loop.single,
                                        pair=recovery.click_loop.pair, radius_px=recovery.click_loop.radius_px)
        self.device = device
        self.recorder = FrameRecorder(capacity=max(1, recovery.evidence_frames), max_dumps=recovery.evidence_max_dumps)
        self.last_report: HealthReport | None = None
        self._foreground: str | None = None  # the app last seen in front (a check with ADB down sees none)
        self._lock = threading.Lock()
        self._click_verdict: StuckVerdict | None = None
        self._overrides: list[float | None] = []  # stuck_after of the running main-routine steps, outermost first
        self._streaks: dict[HealthProblem, int] = {}
        self._input_since_frame = False
        self.captures = 0  # frames captured (recognition rounds; benchmarks/chaos.py reports them per second)
        self.metrics = BotMetrics()  # what the heartbeat carries to /metrics (emufleet.bot.metrics)

    # -- fed by the supervised device and the step events (bot threads) ------------------------------------------
    def on_input(self, kind: str, point: tuple[int, int] | None) -> None:
        self.metrics.input_sent(kind)
        self.stuck.input_sent()
        self._input_since_frame = True
        if kind == "tap" and point is not None:
            verdict = self.clicks.tap(*point)
            if verdict is not None:
                with self._lock:
                    self._click_verdict = verdict

    def on_frame(self, frame: np.ndarray, latency_ms: float) -> None:
        # A frame is "awaited" when input was sent since the last one: a screen that stays identical then is
        # frozen (or ignores input), while an idle routine re-reading a static screen is not.
        waiting, self._input_since_frame = self._input_since_frame, False
        self.captures += 1
        self.metrics.captured(latency_ms)
        self.health.observe_frame(frame, latency_ms, waiting=waiting)
        self.recorder.observe(frame, time.time())

    def on_capture_error(self, error: BaseException, latency_ms: float) -> None:
        self.metrics.capture_failed()
        self.health.observe_capture_error(error, latency_ms)

    def on_match(self, seconds: float, found: bool) -> None:
        self.metrics.matched(seconds, found)

    def on_step_event(self, event: StepEvent) -> None:
        if event.sentry is not None:
            return
        with self._lock:
            if event.kind == "started":
                self._overrides.append(event.stuck_after_s)
            elif self._overrides:
                self._overrides.pop()
        if event.kind != "started" and event.scores:
            self.recorder.looking_for(f"{event.routine}:{event.path} {event.action}", event.scores)

    # -- asked by the session ------------------------------------------------------------------------------------
    def progress(self) -> None:
        """A top-level step completed (or a recovery succeeded): restart the stuck clock and the click window."""
        self.stuck.progress()
        self.clicks.reset()
        with self._lock:
            self._click_verdict = None
            self._overrides.clear()

    def stuck_after_s(self) -> float | None:
        """The running step's own ``stuck_after`` (innermost declared), else ``None`` (the group's)."""
        with self._lock:
            return next((s for s in reversed(self._overrides) if s is not None), None)

    def quick_check(self) -> Fault | None:
        """A fault seen without touching the device, or ``None``."""
        if not self.fence.is_open:
            return Fault(FaultKind.LOCK_LOST, self.fence.reason or "instance lock lost")
        with self._lock:
            verdict, self._click_verdict = self._click_verdict, None
        if verdict is not None:
            return Fault(FaultKind.CLICK_LOOP, verdict.message, _flat(verdict.details))
        if self.controller.paused or (self.accounts is not None and self.accounts.waiting):
            self.stuck.progress()  # waiting for an account or paused is not being stuck
            return None
        verdict = self.stuck.check(stuck_after_s=self.stuck_after_s())
        if verdict is not None:
            return Fault(FaultKind.STUCK, verdict.message, _flat(verdict.details))
        return None

    def health_check(self) -> tuple[HealthReport, Fault | None]:
        """Check the instance now (blocking: ADB calls). Returns the report and the fault it means, if any."""
        report = self.health.check()
        self.last_report = report
        if report.foreground is not None:
            self._foreground = report.foreground
        fault = None
        seen = set(report.problems)
        for problem in list(self._streaks):
            if problem not in seen:
                del self._streaks[problem]
        for problem in report.problems:
            self._streaks[problem] = self._streaks.get(problem, 0) + 1
            kind = problem.fault  # a check's problem says which fault it is, and how often it must be seen
            if kind is not None and fault is None and self._streaks[problem] >= problem.confirm:
                fault = Fault(kind, f"instance unhealthy: {problem}", {"problem": str(problem)})
        return report, fault

    def check_after_rung(self) -> tuple[HealthReport, Fault | None]:
        """The check that tells whether a recovery rung worked (blocking: one capture, then :meth:`health_check`).

        The frame statistics gathered before the rung are dropped first: a frozen or black screen seen before an
        app restart says nothing about the screen after it (checked on them, every rung against a frozen screen
        "failed" and the bot gave up although the fault was gone). One fresh capture then tells a screen that is
        still black; a frozen one is seen again by the capture path once the routine resumes.
        """
        self.forget_health()
        started = time.perf_counter()
        try:
            frame = self.device.screenshot()
        except Exception as exc:  # noqa: BLE001 - a failed capture is a health observation, not an error here
            self.health.observe_capture_error(exc, (time.perf_counter() - started) * 1000.0)
        else:
            self.health.observe_frame(frame, (time.perf_counter() - started) * 1000.0)
            self.recorder.observe(frame, time.time())
        return self.health_check()

    def app_state(self) -> AppState:
        """The app last seen in front and the newest frame's digest (after a rung: :meth:`check_after_rung`'s)."""
        frames = self.recorder.frames
        return AppState(self._foreground, frame_digest(frames[-1].image) if frames else None)

    def evidence(self, directory: Path, reason: str) -> list[Path]:
        """Write the failure evidence: the last frames, the newest one captured now (blocking)."""
        try:
            self.recorder.observe(self.device.screenshot(allow_black=True))
        except Exception as exc:  # noqa: BLE001 - a device that cannot capture still has its earlier frames
            _log.info("no frame captured for the failure evidence (%s; the earlier frames are kept): %s: %s",
                      reason, type(exc).__name__, exc)
        return self.recorder.dump(directory, reason)

    def forget_health(self) -> None:
        """After a recovery: problems must be seen anew before they are faults again."""
        self._streaks.clear()
        self.health.reset()


def _flat(details: Mapping[str, Any]) -> dict[str, str | int | float | bool | None]:
    """The scalar details (event payloads are flat)."""
    return {k: v for k, v in details.items() if v is None or isinstance(v, str | int | float | bool)}
