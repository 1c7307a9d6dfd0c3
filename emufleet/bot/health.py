"""Health checks of one bot's device: ADB, boot, foreground app, frozen screen, capture latency.

Two inputs, one verdict. The bot's capture path feeds every frame (or capture error) to
:meth:`HealthMonitor.observe_frame` / :meth:`~HealthMonitor.observe_capture_error`; every
:attr:`HealthSettings.interval` seconds the bot calls :meth:`HealthMonitor.check`, which probes the device and returns
a typed :class:`HealthReport`; a change of its problems is a :class:`HealthChange` (the bot's event)::

    monitor = HealthMonitor(device, HealthSettings(package=GAME.package), on_change=print)
    frame = device.screenshot(); monitor.observe_frame(frame, latency_ms=38.0, waiting=True)
    if monitor.due():
        report = monitor.check()      # never raises for device errors: they are problems
        report.healthy, report.worst, report.problems, report.capture_ms_p95

The checks themselves are registered classes in :mod:`emufleet.bot.checks` (each with its problem, severity,
fault, confirmation count and settings beside its code): ``adb_down``, ``not_booted``, ``app_not_foreground``
(probes, in that order), ``frozen_screen``, ``black_screen``, ``capture_failing``, ``slow_capture`` (the captures'
statistics; ``frozen_screen`` counts only captures taken *while the routine waits for a change*,
``observe_frame(..., waiting=True)``: a static screen the routine is merely looking at is not frozen).

A report is ``healthy`` while no problem is an error or worse (a warning is reported, not acted on).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emufleet.bot.checks import CHECKS, AdbDown, FrameCheck, Frames, HealthProblem, HealthSeverity, Probe, ProbeCheck
from emufleet.device._screen import BlackFrameError
from emufleet.device.interface import DeviceLike
from emufleet.errors import DeviceError
from emufleet.groups.supervision import HealthSettings

__all__ = ["HealthChange", "HealthMonitor", "HealthProblem", "HealthReport", "HealthSettings", "HealthSeverity",
           "frame_digest"]



@dataclass(frozen=True, slots=True)
class HealthReport:
    """One health check. ``time`` is ``time.time()``; ``boot_completed``/``foreground`` are None when not probed
    (ADB down); latencies are over the last :attr:`HealthSettings.latency_window` captures (None: none yet).
    ``problems`` are sorted worst first; ``messages[i]`` says what was seen for ``problems[i]``."""

    time: float
    serial: str
    adb_alive: bool
    boot_completed: bool | None
    foreground: str | None
    frozen: bool
    capture_ms_p50: float | None
    capture_ms_p95: float | None
    captures: int = 0
    problems: tuple[HealthProblem, ...] = ()
    messages: tuple[str, ...] = ()
    check_ms: float = 0.0

    @property
    def severity(self) -> HealthSeverity:
        """The worst problem's severity (``OK`` without problems)."""
        return self.problems[0].severity if self.problems else HealthSeverity.OK

    @property
    def worst(self) -> HealthProblem | None:
        return self.problems[0] if self.problems else None

    @property
    def healthy(self) -> bool:
        """No problem of severity ``ERROR`` or worse."""
        return self.severity < HealthSeverity.ERROR

    def message(self, problem: HealthProblem) -> str | None:
        """What was seen for ``problem``, or None if it is not in this report."""
        return dict(zip(self.problems, self.messages, strict=True)).get(problem)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields (events, status records): problems as their string values."""
        return {"time": self.time, "serial": self.serial, "healthy": self.healthy, "severity": self.severity.name,
                "adb_alive": self.adb_alive, "boot_completed": self.boot_completed, "foreground": self.foreground,
                "frozen": self.frozen, "capture_ms_p50": self.capture_ms_p50, "capture_ms_p95": self.capture_ms_p95,
                "captures": self.captures, "problems": [str(p) for p in self.problems],
                "messages": list(self.messages), "check_ms": self.check_ms}


@dataclass(frozen=True, slots=True)
class HealthChange:
    """The problems of two consecutive reports differ (``before`` is None for the first report)."""

    before: HealthReport | None
    after: HealthReport
    appeared: tuple[HealthProblem, ...] = ()
    cleared: tuple[HealthProblem, ...] = ()


def frame_digest(frame: np.ndarray) -> int:
    """A digest of a frame's pixels and shape (CRC-32: ~1 ms for 540×960, collisions irrelevant between
    consecutive frames)."""
    data = np.ascontiguousarray(frame)
    return zlib.crc32(repr(data.shape).encode(), zlib.crc32(data.data))


@dataclass
class _Frames:
    """What the capture path has shown the monitor (guarded by the monitor's lock)."""

    latencies: deque[float]
    digest: int | None = None
    run: int = 0                       # consecutive waiting captures showing ``digest``
    run_start: float | None = None     # monotonic time of the run's first capture
    black: bool = False
    failures: int = 0                  # consecutive failed captures
    last_error: str = ""


class HealthMonitor:
    """Watches one device: frame statistics from the capture path, probes on :meth:`check`. Thread-safe (the
    capture path and the checking thread may differ).

    Args:
        device: the device (``echo`` and ``getprop`` through it, ``foreground_app()``).
        settings: thresholds and the game package.
        on_change: called by :meth:`check` with a :class:`HealthChange` when the set of problems changed (the
            first report counts as a change when it has problems).
        clock: monotonic seconds (frozen-run spans, :meth:`due`); wall: ``time.time`` for report times.
    """

    def __init__(self, device: DeviceLike, settings: HealthSettings | None = None, *,
                 on_change: Callable[[HealthChange], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.device = device
        self.settings = settings or HealthSettings()
        self.on_change = on_change
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._frames = _Frames(deque(maxlen=self.settings.latency_window))
        self._last: HealthReport | None = None
        self._last_check: float | None = None

    @property
    def last(self) -> HealthReport | None:
        """The latest report, or None before the first check."""
        return self._last

    # -- the capture path --------------------------------------------------------------------------------------
    def observe_frame(self, frame: np.ndarray, latency_ms: float, *, waiting: bool = False) -> bool:
        """Record a capture: ``frame`` (H, W, 3) uint8 as captured, ``latency_ms`` its capture time.

        ``waiting``: the routine is waiting for the screen to change (a poll of ``WaitForImage``, a loop
        re-checking after input). Only such captures count towards a frozen screen; any other frame with a
        different digest ends the run. Returns whether the screen now counts as frozen.
        """
        digest = frame_digest(frame)
        black = not frame.any()
        now = self._clock()
        with self._lock:
            f = self._frames
            f.latencies.append(float(latency_ms))
            f.black, f.failures = black, 0
            if digest != f.digest:
                f.digest, f.run, f.run_start = digest, 0, None
            if waiting:
                if f.run == 0:
                    f.run_start = now
                f.run += 1
            return self._frozen(now)

    def observe_capture_error(self, error: BaseException, latency_ms: float | None = None) -> None:
        """Record a failed capture (``ScreenshotError``, a dropped connection …); a black frame refused by the
        device layer counts as a black capture."""
        with self._lock:
            f = self._frames
            if latency_ms is not None:
                f.latencies.append(float(latency_ms))
            if isinstance(error.__cause__, BlackFrameError) or isinstance(error, BlackFrameError):
                f.black, f.failures = True, 0
                return
            f.black, f.failures = False, f.failures + 1
            f.last_error = str(error)[:200]

    def reset(self) -> None:
        """Forget the frame statistics (after a recovery restarted the app or the device)."""
        with self._lock:
            self._frames = _Frames(deque(maxlen=self.settings.latency_window))

    def _frozen(self, now: float) -> bool:
        f = self._frames
        return (f.run >= self.settings.frozen_captures and f.run_start is not None
                and now - f.run_start >= self.settings.frozen_min_s)

    # -- checks ------------------------------------------------------------------------------------------------
    def due(self, now: float | None = None) -> bool:
        """Whether :attr:`HealthSettings.interval` has passed since the last check (True before the first)."""
        now = self._clock() if now is None else now
        return self._last_check is None or now - self._last_check >= self.settings.interval

    def check(self) -> HealthReport:
        """Run the registered checks (:mod:`emufleet.bot.checks`): the probes in order until one finds its problem,
        then the frame checks. Never raises ``DeviceError``: a probe's is ``adb_down``."""
        s = self.settings
        started = self._clock()
        found: list[tuple[HealthProblem, str]] = []
        probe = Probe(self.device)
        for check in CHECKS:
            if not isinstance(check, ProbeCheck):
                continue
            try:
                message = check.see(probe, s)
            except DeviceError as exc:
                probe.alive = False
                found.append((AdbDown.problem, f"{check.probe_name}: {exc}"))
                break
            if message is not None:
                found.append((check.problem, message))
                break
        now = self._clock()
        with self._lock:
            f = self._frames
            frames = Frames(np.array(f.latencies, dtype=float), self._frozen(now), f.run,
                            now - (f.run_start or now), f.black, f.failures, f.last_error)
        for check in CHECKS:
            if isinstance(check, FrameCheck) and (message := check.see(frames, s)) is not None:
                found.append((check.problem, message))
        found.sort(key=lambda item: -item[0].severity)
        report = HealthReport(
            time=self._wall(), serial=self.device.serial, adb_alive=probe.alive, boot_completed=probe.booted,
            foreground=probe.foreground, frozen=frames.frozen, capture_ms_p50=frames.percentile(50),
            capture_ms_p95=frames.percentile(95), captures=int(frames.latencies.size),
            problems=tuple(p for p, _ in found), messages=tuple(m for _, m in found),
            check_ms=(self._clock() - started) * 1000.0)
        before, self._last, self._last_check = self._last, report, started
        self._notify(before, report)
        return report

    def _notify(self, before: HealthReport | None, after: HealthReport) -> None:
        old = set(before.problems) if before is not None else set()
        new = set(after.problems)
        if self.on_change is None or old == new:
            return
        self.on_change(HealthChange(before, after, tuple(p for p in after.problems if p not in old),
                                    tuple(p for p in (before.problems if before else ()) if p not in new)))
