"""Memory over time for long benchmarks: RSS samples, growth per minute after warm-up, tracemalloc diffs.

A process that drives a fleet for hours must not grow with run time. One RSS reading at the start and one at the
end cannot tell warm-up (imports, caches filled once, client connection pools, the first frames of each bot) from
growth per unit of time, so :class:`RssSampler` samples ``VmRSS`` every few seconds on a thread, prints a small
table, and fits a least-squares line to the samples taken after the warm-up: its slope is the growth per minute.
With ``tracemalloc`` on, it also snapshots the Python heap when the warm-up ends and at :meth:`RssSampler.stop`,
and prints the 15 largest differences by size with their traceback frames (what the run allocated and kept).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

__all__ = ["RssSampler", "rss_mb", "slope_per_min"]

TOP = 15
FRAMES = 12  # traceback frames kept per allocation (tracemalloc's cost grows with them)


def rss_mb() -> float:
    """This process's resident set size in MB (``VmRSS``)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def slope_per_min(samples: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of ``[(seconds, MB), …]`` in MB per minute; None with fewer than 2 samples."""
    if len(samples) < 2:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return 60.0 * sum((t - mean_t) * (v - mean_v) for t, v in samples) / var


class RssSampler(threading.Thread):
    """Samples RSS every ``every_s`` seconds from :meth:`start` until :meth:`stop`.

    Args:
        every_s: seconds between samples (> 0).
        warmup_s: samples before this many seconds are warm-up: not in the slope.
        trace: take tracemalloc snapshots (at the end of the warm-up and at :meth:`stop`); tracemalloc must have
            been started by the caller (``tracemalloc.start(FRAMES)``) before what it should see is allocated.
    """

    def __init__(self, every_s: float, warmup_s: float, *, trace: bool = False) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        if every_s <= 0:
            raise ValueError(f"every_s must be > 0, got {every_s}")
        self.every_s, self.warmup_s, self.trace = every_s, warmup_s, trace
        self.samples: list[tuple[float, float]] = []  # (seconds since start, MB)
        self._halt = threading.Event()
        self._t0 = time.monotonic()
        self._warm: tracemalloc.Snapshot | None = None
        self._end: tracemalloc.Snapshot | None = None

    def run(self) -> None:
        self._t0 = time.monotonic()
        while True:
            elapsed = time.monotonic() - self._t0
            self.samples.append((elapsed, rss_mb()))
            if self.trace and self._warm is None and elapsed >= self.warmup_s:
                self._warm = tracemalloc.take_snapshot()
            if self._halt.wait(self.every_s):
                break

    def stop(self) -> None:
        """Take the last sample (and snapshot) and end the thread."""
        if self.trace and tracemalloc.is_tracing():
            self._end = tracemalloc.take_snapshot()
        self._halt.set()
        self.join(10)
        self.samples.append((time.monotonic() - self._t0, rss_mb()))

    @property
    def after_warmup(self) -> list[tuple[float, float]]:
        return [s for s in self.samples if s[0] >= self.warmup_s]

    def growth_per_min(self) -> float | None:
        """MB per minute after the warm-up (least squares), or None without two samples after it."""
        return slope_per_min(self.after_warmup)

    def table(self, rows: int = 16) -> str:
        """The samples as ``t_s rss_mb delta_mb`` lines, thinned to about ``rows`` rows (the last one kept)."""
        if not self.samples:
            return "no RSS samples"
        step = max(1, len(self.samples) // rows)
        chosen = self.samples[::step]
        if chosen[-1] is not self.samples[-1]:
            chosen.append(self.samples[-1])
        first = self.samples[0][1]
        lines = [f"{'t_s':>7} {'rss_mb':>8} {'delta_mb':>9}"]
        lines += [f"{t:>7.0f} {v:>8.1f} {v - first:>+9.1f}{'  (warm-up)' if t < self.warmup_s else ''}"
                  for t, v in chosen]
        return "\n".join(lines)

    def top_diff(self, top: int = TOP) -> str:
        """The ``top`` largest Python-heap differences (size) between the warm-up's end and the stop."""
        if self._warm is None or self._end is None:
            return "tracemalloc: no snapshot pair (run longer than the warm-up, with --tracemalloc)"
        ignore = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, "<frozen importlib*")]
        warm, end = self._warm.filter_traces(ignore), self._end.filter_traces(ignore)
        stats = end.compare_to(warm, "traceback")
        total = sum(s.size_diff for s in stats) / 2**20
        out = [f"tracemalloc: Python heap {total:+.1f} MB between the warm-up's end and the stop; top {top}:"]
        for stat in sorted(stats, key=lambda s: s.size_diff, reverse=True)[:top]:
            out.append(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks")
            out += [f"      {frame.filename}:{frame.lineno}" for frame in stat.traceback[-6:]]
        return "\n".join(out)
