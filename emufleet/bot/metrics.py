"""In-bot metrics: cumulative counters and latency histograms of one bot run, carried by its heartbeat event.

A bot runs in a launch process, a worker on another host, or the CLI; the console that serves ``/metrics`` is
elsewhere. So the bot keeps cumulative figures here (:class:`BotMetrics`, fed by the supervised device's input and
capture hooks, the matcher's hook and the session's recoveries) and every heartbeat event (``bot.heartbeat``,
every 10 s) carries a flat copy of them (:meth:`BotMetrics.payload`); the console reads the latest heartbeat of
each live bot from the Prefect events API and exposes them (:func:`read_payload` is the inverse). Cumulative
figures make a lost heartbeat harmless: the next one has everything.

Payload keys (all prefixed ``m.``): ``m.input.<kind>`` (inputs sent by kind: ``tap``, ``swipe``, ``key``, …),
``m.capture_errors``, ``m.<histogram>.count``, ``m.<histogram>.sum`` (seconds), ``m.<histogram>.le.<bound>``
(cumulative counts, Prometheus style, ``+Inf`` last) for ``capture_s`` (screen capture latency) and ``match_s``
(template matching latency), ``m.matches_found``, ``m.failure.<kind>`` (faults by :class:`FaultKind`, and
``attempt`` for a failed attempt of the routine) and ``m.recovery.<rung>.<reason>`` (recoveries by rung, reason
``fault`` or ``operator``).
"""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CAPTURE_BUCKETS_S", "MATCH_BUCKETS_S", "BotMetrics", "Histogram", "MetricsReading", "read_payload"]

PREFIX = "m."
#: Upper bounds (seconds) of the capture latency buckets: an emulator's screencap takes 30–300 ms.
CAPTURE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: Upper bounds (seconds) of the template matching buckets: one match is 0.5–50 ms.
MATCH_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
HISTOGRAMS = {"capture_s": CAPTURE_BUCKETS_S, "match_s": MATCH_BUCKETS_S}


@dataclass(slots=True)
class Histogram:
    """Observations in buckets of upper bounds ``bounds`` (seconds), plus their count and sum."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)  # per bucket, the last one +Inf
    sum: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, seconds)] += 1  # a value equal to a bound is in its bucket
        self.sum += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, int]]:
        """``[(le, count of observations ≤ le), …, ("+Inf", count)]``: Prometheus' bucket form."""
        out, running = [], 0
        for bound, n in zip((*(_le(b) for b in self.bounds), "+Inf"), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


def _le(bound: float) -> str:
    return repr(float(bound))


class BotMetrics:
    """The cumulative figures of one bot run. Thread-safe: fed from bot threads, read by the supervisor's tick."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.inputs: Counter[str] = Counter()
        self.capture_errors = 0
        self.matches_found = 0
        self.histograms = {name: Histogram(bounds) for name, bounds in HISTOGRAMS.items()}
        self.failures: Counter[str] = Counter()
        self.recoveries: Counter[tuple[str, str]] = Counter()

    # -- fed by the supervised device, the matcher and the session ----------------------------------------------
    def input_sent(self, kind: str) -> None:
        with self._lock:
            self.inputs[kind] += 1

    def captured(self, latency_ms: float) -> None:
        with self._lock:
            self.histograms["capture_s"].observe(latency_ms / 1000.0)

    def capture_failed(self) -> None:
        with self._lock:
            self.capture_errors += 1

    def matched(self, seconds: float, found: bool) -> None:
        with self._lock:
            self.histograms["match_s"].observe(seconds)
            self.matches_found += int(found)

    def failed(self, kind: str) -> None:
        """A fault (its :class:`~emufleet.bot.recovery.FaultKind`) or ``"attempt"`` (a failed attempt)."""
        with self._lock:
            self.failures[kind] += 1

    def recovered(self, rung: str, reason: str) -> None:
        """A rung worked; ``reason`` is ``"fault"`` or ``"operator"``."""
        with self._lock:
            self.recoveries[(rung, reason)] += 1

    # -- read -------------------------------------------------------------------------------------------------
    def payload(self) -> dict[str, int | float]:
        """The flat copy the heartbeat event carries (keys in the module docstring)."""
        with self._lock:
            out: dict[str, int | float] = {f"{PREFIX}input.{k}": n for k, n in self.inputs.items()}
            out[f"{PREFIX}capture_errors"] = self.capture_errors
            out[f"{PREFIX}matches_found"] = self.matches_found
            for name, hist in self.histograms.items():
                out[f"{PREFIX}{name}.count"] = hist.count
                out[f"{PREFIX}{name}.sum"] = round(hist.sum, 6)
                out.update({f"{PREFIX}{name}.le.{le}": n for le, n in hist.cumulative()})
            out.update({f"{PREFIX}failure.{k}": n for k, n in self.failures.items()})
            out.update({f"{PREFIX}recovery.{rung}.{reason}": n for (rung, reason), n in self.recoveries.items()})
            return out


@dataclass(frozen=True, slots=True)
class HistogramReading:
    """A histogram as read back: cumulative ``buckets`` ``[(le, count), …, ("+Inf", count)]``, ``sum`` (s)."""

    buckets: list[tuple[str, int]]
    sum: float


@dataclass(frozen=True, slots=True)
class MetricsReading:
    """The figures of one heartbeat payload (what :func:`read_payload` returns)."""

    inputs: dict[str, int]
    capture_errors: int
    matches_found: int
    histograms: dict[str, HistogramReading]
    failures: dict[str, int]
    recoveries: dict[tuple[str, str], int]

    @property
    def taps(self) -> int:
        return self.inputs.get("tap", 0)


def read_payload(payload: Mapping[str, object]) -> MetricsReading | None:
    """The figures in a heartbeat payload, or ``None`` when it carries none (a heartbeat of an older bot).
    Keys that do not parse are ignored: a console must not fail on a newer bot's payload."""
    figures = {k.removeprefix(PREFIX): v for k, v in payload.items()
               if k.startswith(PREFIX) and isinstance(v, int | float) and not isinstance(v, bool)}
    if not figures:
        return None
    inputs, failures, recoveries = {}, {}, {}
    for key, value in figures.items():
        family, _, rest = key.partition(".")
        if family == "input" and rest:
            inputs[rest] = int(value)
        elif family == "failure" and rest:
            failures[rest] = int(value)
        elif family == "recovery" and "." in rest:
            rung, _, reason = rest.rpartition(".")
            recoveries[(rung, reason)] = int(value)
    histograms = {}
    for name, bounds in HISTOGRAMS.items():
        les = [*(_le(b) for b in bounds), "+Inf"]
        if all(f"{name}.le.{le}" in figures for le in les):
            histograms[name] = HistogramReading([(le, int(figures[f"{name}.le.{le}"])) for le in les],
                                                float(figures.get(f"{name}.sum", 0.0)))
    return MetricsReading(inputs, int(figures.get("capture_errors", 0)), int(figures.get("matches_found", 0)),
                          histograms, failures, recoveries)
