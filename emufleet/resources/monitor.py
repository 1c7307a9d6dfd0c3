"""A host's load as its bots see it (seed 003 "Resource Manager", "Degraded mode"): CPU and memory of the whole host
(psutil) and the bots' own capture latency, sampled on a background thread; the launch gate that waits for room; the
degraded mode that slows captures while the host is saturated; the capture pacer that applies it to one bot.

* :class:`HostMonitor` samples every ``interval_s`` (0.5 s): ``psutil.cpu_percent`` over the interval, virtual
  memory, and the median of the captures reported to it in the last 10 s. It enters **degraded mode** once a sample
  has been over a threshold of :class:`~emufleet.resources.settings.ResourceSettings` for ``saturated_for_s``, and
  leaves it once CPU and memory have been under ``recover_below_percent`` (and captures under ``max_capture_ms``)
  for ``recovered_for_s``: the two thresholds keep it from flapping. Each change is a :class:`LoadChange` handed to
  ``on_change`` (the launch turns it into an event) and counted (``degraded_s``, ``changes``).
* :meth:`HostMonitor.wait_for_room` is the launch gate: ``None`` as soon as a sample is under the thresholds, else,
  after ``wait_for_room_s``, the reason (``CPU 97 % > 90 %``) for which the bot is shed.
* :class:`CapturePacer`: one per bot; before a capture it says how long to wait (nothing in normal mode; in degraded
  mode the rest of ``degraded_capture_interval_s`` since its last capture) and after it records the latency.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import psutil

from emufleet.resources.settings import ResourceSettings

__all__ = ["CapturePacer", "HostMonitor", "LoadChange", "LoadSample"]

CAPTURE_WINDOW_S = 10.0  # captures older than this no longer count in the latency median


@dataclass(frozen=True, slots=True)
class LoadSample:
    """One sample: ``at`` (epoch s), host CPU and memory in percent, the bots' median capture latency (ms; ``None``
    when no capture was reported in the window) and how many captures that median covers."""

    at: float
    cpu_percent: float
    memory_percent: float
    capture_ms: float | None = None
    captures: int = 0

    def over(self, settings: ResourceSettings) -> list[str]:
        """What is over its threshold, one phrase each (``CPU 97 % > 90 %``); empty when there is room (a threshold of
        100 % is never passed: it turns that check off)."""
        out = []
        if self.cpu_percent > settings.max_cpu_percent:
            out.append(f"CPU {self.cpu_percent:.0f} % > {settings.max_cpu_percent:.0f} %")
        if self.memory_percent > settings.max_memory_percent:
            out.append(f"memory {self.memory_percent:.0f} % > {settings.max_memory_percent:.0f} %")
        if self.capture_ms is not None and self.capture_ms > settings.max_capture_ms:
            out.append(f"capture {self.capture_ms:.0f} ms > {settings.max_capture_ms:.0f} ms")
        return out

    def calm(self, settings: ResourceSettings) -> bool:
        """Under the recovery level: CPU and memory below ``recover_below_percent``, captures below their limit (a
        check turned off with a threshold of 100 % takes no part)."""
        level = settings.recover_below_percent
        return ((settings.max_cpu_percent >= 100 or self.cpu_percent < level)
                and (settings.max_memory_percent >= 100 or self.memory_percent < level)
                and (self.capture_ms is None or self.capture_ms < settings.max_capture_ms))


@dataclass(frozen=True, slots=True)
class LoadChange:
    """Degraded mode entered (``degraded``) or left, with the sample that decided it and why (``reason``)."""

    degraded: bool
    sample: LoadSample
    reason: str


class HostMonitor:
    """Samples the host on a daemon thread while started (a context manager); thread-safe.

    Args:
        settings: thresholds and timings (they may be replaced while it runs: :attr:`settings`).
        interval_s: seconds between samples.
        on_change: called on the sampling thread with each :class:`LoadChange` (must not block).
    """

    def __init__(self, settings: ResourceSettings | None = None, *, interval_s: float = 0.5,
                 on_change: Callable[[LoadChange], None] | None = None) -> None:
        self.settings = settings or ResourceSettings()
        self.interval_s = interval_s
        self.on_change = on_change
        self.changes: list[LoadChange] = []
        self._lock = threading.Lock()
        self._captures: deque[tuple[float, float]] = deque(maxlen=1000)
        self._sample: LoadSample | None = None
        self._degraded_since: float | None = None
        self._degraded_total = 0.0
        self._saturated_since: float | None = None
        self._calm_since: float | None = None
        self._sampled = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> HostMonitor:
        """Start sampling (the first sample is ready within ``interval_s``)."""
        if self._thread is None:
            psutil.cpu_percent(interval=None)  # the first call only sets psutil's reference point
            self._thread = threading.Thread(target=self._run, name="emufleet-host-monitor", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:  # a degraded spell still open counts up to now
            if self._degraded_since is not None:
                self._degraded_total += time.monotonic() - self._degraded_since
                self._degraded_since = time.monotonic()

    def __enter__(self) -> HostMonitor:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what it knows -----------------------------------------------------------------------------------------
    def observe_capture(self, ms: float) -> None:
        """One capture of a bot of this host took ``ms`` milliseconds."""
        with self._lock:
            self._captures.append((time.monotonic(), ms))

    @property
    def sample(self) -> LoadSample | None:
        """The latest sample (``None`` before the first)."""
        with self._lock:
            return self._sample

    @property
    def degraded(self) -> bool:
        with self._lock:
            return self._degraded_since is not None

    @property
    def degraded_s(self) -> float:
        """Seconds spent in degraded mode so far (an open spell counted up to now)."""
        with self._lock:
            open_s = time.monotonic() - self._degraded_since if self._degraded_since is not None else 0.0
            return self._degraded_total + open_s

    def next_sample(self, timeout_s: float) -> LoadSample | None:
        """Wait for the next sample (at most ``timeout_s``); the latest one when none came."""
        with self._sampled:
            before = self._sample
            self._sampled.wait_for(lambda: self._sample is not before or self._stop.is_set(), timeout=timeout_s)
            return self._sample

    # -- the launch gate ---------------------------------------------------------------------------------------
    def room(self) -> str | None:
        """``None`` when the latest sample is under every threshold, else what is over (``; ``-joined)."""
        sample = self.sample
        if sample is None:
            return "no load sample yet"
        reasons = sample.over(self.settings)
        return "; ".join(reasons) if reasons else None

    def wait_for_room(self, timeout_s: float | None = None, *, cancelled: Callable[[], bool] | None = None
                      ) -> str | None:
        """Block until the host has room (``None``) or ``timeout_s`` (default ``settings.wait_for_room_s``) passed:
        then the reason the bot is shed. ``cancelled()`` true ends the wait early with ``"cancelled"``."""
        budget = self.settings.wait_for_room_s if timeout_s is None else timeout_s
        if self.sample is None and self._thread is not None:  # a gate just opened: its first sample, not a guess
            self.next_sample(self.interval_s * 4)
        deadline = time.monotonic() + budget
        while True:
            reason = self.room()
            if reason is None:
                return None
            if cancelled is not None and cancelled():
                return "cancelled"
            left = deadline - time.monotonic()
            if left <= 0:
                return f"host saturated for {budget:g} s: {reason}"
            self.next_sample(min(left, self.interval_s * 2))

    async def wait_for_room_async(self, timeout_s: float | None = None, *,
                                  cancelled: Callable[[], bool] | None = None) -> str | None:
        """:meth:`wait_for_room` off the event loop."""
        return await asyncio.to_thread(self.wait_for_room, timeout_s, cancelled=cancelled)

    # -- sampling ----------------------------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.feed(LoadSample(time.time(), float(psutil.cpu_percent(interval=None)),
                                 float(psutil.virtual_memory().percent)))

    def feed(self, raw: LoadSample) -> LoadChange | None:
        """Take one sample of CPU and memory (the sampling thread's, or one from elsewhere: a test, a remote host's
        report); the capture median is added here. Returns the change it caused, if any."""
        now = time.monotonic()
        with self._lock:
            recent = [ms for at, ms in self._captures if now - at <= CAPTURE_WINDOW_S]
            sample = LoadSample(raw.at, raw.cpu_percent, raw.memory_percent,
                                statistics.median(recent) if recent else None, len(recent))
            self._sample = sample
            change = self._decide(sample, now)
            if change is not None:
                self.changes.append(change)
            self._sampled.notify_all()
        if change is not None and self.on_change is not None:
            self.on_change(change)
        return change

    def _decide(self, sample: LoadSample, now: float) -> LoadChange | None:
        settings = self.settings
        if self._degraded_since is None:
            reasons = sample.over(settings)
            self._saturated_since = (self._saturated_since or now) if reasons else None
            if self._saturated_since is not None and now - self._saturated_since >= settings.saturated_for_s:
                self._degraded_since, self._saturated_since, self._calm_since = now, None, None
                return LoadChange(True, sample, "; ".join(reasons))
            return None
        self._calm_since = (self._calm_since or now) if sample.calm(settings) else None
        if self._calm_since is not None and now - self._calm_since >= settings.recovered_for_s:
            self._degraded_total += now - self._degraded_since
            self._degraded_since, self._calm_since = None, None
            return LoadChange(False, sample, f"CPU {sample.cpu_percent:.0f} %, memory {sample.memory_percent:.0f} % "
                                             f"under {settings.recover_below_percent:.0f} % for "
                                             f"{settings.recovered_for_s:g} s")
        return None


class CapturePacer:
    """One bot's captures under its host's degraded mode (see the module docstring)."""

    def __init__(self, monitor: HostMonitor) -> None:
        self.monitor = monitor
        self._last: float | None = None
        self.slowed = 0  # captures that waited for degraded mode

    def delay(self) -> float:
        """Seconds to wait before the next capture: 0 in normal mode."""
        if self._last is None or not self.monitor.degraded:
            return 0.0
        wait = self._last + self.monitor.settings.degraded_capture_interval_s - time.monotonic()
        if wait > 0:
            self.slowed += 1
        return max(wait, 0.0)

    def captured(self, ms: float) -> None:
        """A capture just ended after ``ms`` milliseconds."""
        self._last = time.monotonic()
        self.monitor.observe_capture(ms)
