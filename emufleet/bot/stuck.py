"""Stuck detection: a bot that makes no progress, and a bot that taps the same targets over and over.

Two small, pure detectors (no threads, no device; time from an injected clock) that the bot session feeds:

* :class:`StuckDetector`: *no step completed and no input sent* for ``stuck_after_s`` (default 60 s, ALAS's
  "no click for 60 s"; the seed's plan said 30 s, digest §9.7). A step that legitimately waits longer (a long
  ``WaitForImage``) passes its own limit to :meth:`StuckDetector.check`. Time spent paused does not count.
* :class:`ClickLoopDetector`: of the last ``window`` taps (15), one target tapped ``single`` times (12), or two
  targets ``pair`` times each (6): ALAS's ``click_record`` check, with targets told apart by position (taps within
  ``radius_px`` device px of a target's first tap are that target) or by the name the caller gives (the template
  matched).

Both return a :class:`StuckVerdict` (or None)::

    stuck = StuckDetector(stuck_after_s=60.0)
    stuck.progress("steps[2]"); stuck.input_sent()
    verdict = stuck.check(stuck_after_s=step_limit)      # None while the bot moves
    loop = ClickLoopDetector()
    verdict = loop.tap(270, 480, target="OK")             # None, or the loop's verdict (then the record restarts)
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ClickLoopDetector", "StuckDetector", "StuckReason", "StuckVerdict"]


class StuckReason(StrEnum):
    """Why a bot is stuck (values are the event spellings)."""

    NO_PROGRESS = "no_progress"
    CLICK_LOOP = "click_loop"


@dataclass(frozen=True)
class StuckVerdict:
    """A stuck bot: the ``reason``, a sentence for people, and ``details`` (JSON-ready numbers and names)."""

    reason: StuckReason
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"reason": str(self.reason), "message": self.message, "details": dict(self.details)}


class StuckDetector:
    """No step completed and no input sent for too long.

    Args:
        stuck_after_s: the default limit in seconds (> 0).
        clock: monotonic seconds; the detector starts counting when it is made (or :meth:`reset`).

    Raises:
        ValueError: a limit ≤ 0.
    """

    def __init__(self, stuck_after_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stuck_after_s = _positive(stuck_after_s)
        self._clock = clock
        self._progress_at = self._input_at = clock()
        self._last_step: str | None = None
        self._paused_at: float | None = None

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    def progress(self, step: str | None = None, now: float | None = None) -> None:
        """A step completed (``step``: its label, for the message)."""
        self._progress_at = self._now(now)
        if step is not None:
            self._last_step = step

    def input_sent(self, now: float | None = None) -> None:
        """Input (a tap, swipe, key or text) was sent to the device."""
        self._input_at = self._now(now)

    def reset(self, now: float | None = None) -> None:
        """Start counting afresh (a new attempt, a recovery)."""
        now = self._now(now)
        self._progress_at = self._input_at = now
        self._paused_at = None

    def pause(self, now: float | None = None) -> None:
        """The routine is paused: :meth:`check` says nothing until :meth:`resume`."""
        if self._paused_at is None:
            self._paused_at = self._now(now)

    def resume(self, now: float | None = None) -> None:
        """The routine runs again: the paused time is not idle time."""
        if self._paused_at is not None:
            now = self._now(now)
            gap = now - self._paused_at
            self._progress_at += gap
            self._input_at += gap
            self._paused_at = None

    def idle_s(self, now: float | None = None) -> float:
        """Seconds since the last step completed or input was sent (frozen while paused)."""
        now = self._paused_at if self._paused_at is not None else self._now(now)
        return now - max(self._progress_at, self._input_at)

    def check(self, now: float | None = None, *, stuck_after_s: float | None = None) -> StuckVerdict | None:
        """A ``no_progress`` verdict when idle for ``stuck_after_s`` (this step's limit; default the detector's),
        else None. Repeats on every check until :meth:`progress`, :meth:`input_sent` or :meth:`reset`.

        Raises:
            ValueError: a limit ≤ 0.
        """
        if self._paused_at is not None:
            return None
        limit = self.stuck_after_s if stuck_after_s is None else _positive(stuck_after_s)
        now = self._now(now)
        idle = self.idle_s(now)
        if idle < limit:
            return None
        since_step = now - self._progress_at
        after = f" after {self._last_step}" if self._last_step else ""
        return StuckVerdict(StuckReason.NO_PROGRESS,
                            f"no step completed and no input sent for {idle:.0f} s{after} (limit {limit:g} s)",
                            {"idle_s": round(idle, 3), "stuck_after_s": limit, "since_step_s": round(since_step, 3),
                             "since_input_s": round(now - self._input_at, 3), "last_step": self._last_step})


class ClickLoopDetector:
    """The same target(s) tapped over and over.

    Args:
        window: how many recent taps are looked at (15).
        single: one target this many times in the window is a loop (12).
        pair: two targets each this many times is a loop (6).
        radius_px: taps within this distance (device px) of a target's first tap are that target.

    Raises:
        ValueError: ``single`` or ``2·pair`` larger than ``window``, or a non-positive number.
    """

    def __init__(self, window: int = 15, single: int = 12, pair: int = 6, radius_px: float = 20.0) -> None:
        if min(window, single, pair) < 1 or radius_px < 0:
            raise ValueError("window, single and pair must be ≥ 1 and radius_px ≥ 0")
        if single > window or 2 * pair > window:
            raise ValueError(f"single={single} and 2·pair={2 * pair} must fit in window={window}")
        self.window, self.single, self.pair, self.radius_px = window, single, pair, float(radius_px)
        self._taps: deque[str] = deque(maxlen=window)
        self._anchors: dict[str, tuple[float, float]] = {}   # position target → its first tap

    def tap(self, x: float, y: float, target: str | None = None) -> StuckVerdict | None:
        """Record a tap at device pixel ``(x, y)`` (``target``: the template it pressed, when known).

        Returns a ``click_loop`` verdict when the window shows a loop; the record then starts afresh, so one loop
        gives one verdict."""
        key = f"template {target}" if target is not None else self._position_target(x, y)
        self._taps.append(key)
        counts = Counter(self._taps).most_common(2)
        (first, n1), *rest = counts
        if n1 >= self.single:
            message = f"{first} tapped {n1} times in the last {len(self._taps)} taps"
        elif rest and n1 >= self.pair and rest[0][1] >= self.pair:
            message = f"{first} and {rest[0][0]} tapped {n1} and {rest[0][1]} times in the last {len(self._taps)} taps"
        else:
            return None
        details = {"targets": {k: n for k, n in counts}, "window": len(self._taps), "last_tap": [x, y]}
        self.reset()
        return StuckVerdict(StuckReason.CLICK_LOOP, message, details)

    def reset(self) -> None:
        """Forget the recorded taps (the routine made real progress, or a recovery ran)."""
        self._taps.clear()
        self._anchors.clear()

    def _position_target(self, x: float, y: float) -> str:
        for key, (ax, ay) in self._anchors.items():
            if math.hypot(x - ax, y - ay) <= self.radius_px:
                return key
        live = set(self._taps)
        for key in [k for k in self._anchors if k not in live]:   # anchors of taps out of the window
            del self._anchors[key]
        key = f"({x:g}, {y:g})"
        self._anchors[key] = (float(x), float(y))
        return key


def _positive(value: float) -> float:
    if not value > 0:
        raise ValueError(f"a stuck limit must be > 0 s, got {value!r}")
    return float(value)
