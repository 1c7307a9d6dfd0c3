"""``/metrics``: Prometheus text exposition of the fleet (prometheus-client), read at scrape time.

Nothing is counted inside the console: each scrape reads the live snapshot (bots from their flow runs' status,
:mod:`console.live`) and the database (accounts by state, per pool, leases), so the numbers are the same whichever
process runs the bots and survive a console restart. Counters are the bots' own counters (``steps_done``,
``restarts``, accounts completed/failed) per live bot run; Prometheus handles their reset when a run ends.

The bots' own figures — inputs and taps, capture and match latency histograms, failures and recoveries by kind —
come from each live bot's latest heartbeat event (every 10 s; read from the Prefect events API, so a bot in any
process or on any host is seen: :mod:`emufleet.bot.metrics`), labelled ``group``, ``bot`` and ``host``. Rates
are PromQL's: ``rate(emufleet_bot_taps_total[1m])``, ``rate(emufleet_bot_steps_total[1m])``.

While a launch runs on this host, its load and degraded mode come from the launch's load file
(:func:`emufleet.resources.loadfile.read_load`): ``emufleet_host_cpu_percent``, ``…_memory_percent``, ``…_capture_ms``,
``…_degraded`` (0/1), ``…_bots_shed`` and ``emufleet_host_degraded_seconds_total``, labelled ``host``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from uuid import UUID

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from console.fleet import FleetSnapshot
from emufleet.bot.metrics import MetricsReading
from emufleet.boundary import JsonObject
from emufleet.groups import BotState

__all__ = ["FleetCollector", "FleetNumbers", "render_metrics"]


@dataclass(frozen=True, slots=True)
class FleetNumbers:
    """What one scrape reports: the snapshot, accounts by state overall and per pool."""

    snapshot: FleetSnapshot
    accounts: dict[str, int]
    pools: dict[str, dict[str, int]]
    bot_metrics: dict[UUID, MetricsReading] = field(default_factory=dict)  # live bot run → its last heartbeat's
    host_load: JsonObject | None = None  # this host's load while a launch runs here (resources.loadfile)


class FleetCollector(Collector):
    """A collector over one :class:`FleetNumbers` (a new one per scrape)."""

    def __init__(self, numbers: FleetNumbers) -> None:
        self.numbers = numbers

    def collect(self) -> Iterable[Metric]:
        snap = self.numbers.snapshot
        yield from self._bots(snap)
        yield from self._in_bot(snap, self.numbers.bot_metrics)
        if self.numbers.host_load is not None:
            yield from self._host(self.numbers.host_load)
        launches = GaugeMetricFamily("emufleet_launches_running", "Live launch-group flow runs", labels=["group"])
        for group in snap.groups:
            launches.add_metric([group.name], 1 if group.launch_run_id else 0)
        yield launches
        up = GaugeMetricFamily("emufleet_prefect_up", "1 when the last read of the Prefect API succeeded")
        up.add_metric([], 0 if snap.error else 1)
        yield up
        accounts = GaugeMetricFamily("emufleet_accounts", "Accounts by effective state", labels=["state"])
        for state, n in sorted(self.numbers.accounts.items()):
            accounts.add_metric([state], n)
        yield accounts
        pools = GaugeMetricFamily("emufleet_pool_accounts", "Pool members by effective state (last refresh)",
                                  labels=["pool", "state"])
        for pool, counts in sorted(self.numbers.pools.items()):
            for state, n in sorted(counts.items()):
                pools.add_metric([pool, state], n)
        yield pools
        leases = GaugeMetricFamily("emufleet_leases_held", "Account leases held now (not expired)")
        leases.add_metric([], len(snap.leases))
        yield leases

    @staticmethod
    def _bots(snap: FleetSnapshot) -> Iterator[Metric]:
        bots = GaugeMetricFamily("emufleet_bots", "Live bots by state", labels=["group", "state"])
        steps = CounterMetricFamily("emufleet_bot_steps", "Routine steps done by a live bot run",
                                    labels=["group", "bot"])
        restarts = CounterMetricFamily("emufleet_bot_restarts", "Restarts of a live bot run", labels=["group", "bot"])
        done = CounterMetricFamily("emufleet_bot_accounts", "Accounts a live bot run finished, by outcome",
                                   labels=["group", "bot", "outcome"])
        for group in snap.groups:
            counts = dict.fromkeys((s.value for s in BotState), 0)
            for view in group.bots:
                st = view.status
                counts[st.state.value] += 1
                labels = [group.name, str(st.bot)]
                steps.add_metric(labels, st.steps_done)
                restarts.add_metric(labels, st.restarts)
                done.add_metric([*labels, "completed"], st.accounts_completed)
                done.add_metric([*labels, "failed"], st.accounts_failed)
            for state, n in counts.items():
                bots.add_metric([group.name, state], n)
        yield from (bots, steps, restarts, done)


    @staticmethod
    def _in_bot(snap: FleetSnapshot, readings: dict[UUID, MetricsReading]) -> Iterator[Metric]:
        names = ["group", "bot", "host"]
        taps = CounterMetricFamily("emufleet_bot_taps", "Taps a live bot run sent", labels=names)
        inputs = CounterMetricFamily("emufleet_bot_inputs", "Inputs a live bot run sent, by kind",
                                     labels=[*names, "kind"])
        errors = CounterMetricFamily("emufleet_bot_capture_errors", "Failed screen captures of a live bot run",
                                     labels=names)
        found = CounterMetricFamily("emufleet_bot_matches_found", "Template matches that found their template",
                                    labels=names)
        hists = {"capture_s": HistogramMetricFamily("emufleet_bot_capture_seconds", "Screen capture latency",
                                                    labels=names),
                 "match_s": HistogramMetricFamily("emufleet_bot_match_seconds", "Template matching latency",
                                                  labels=names)}
        failures = CounterMetricFamily("emufleet_bot_failures", "Faults (by fault kind) and failed attempts "
                                       "(kind attempt) of a live bot run", labels=[*names, "kind"])
        recoveries = CounterMetricFamily("emufleet_bot_recoveries", "Recoveries of a live bot run by rung and "
                                         "reason (fault or operator)", labels=[*names, "rung", "reason"])
        for group in snap.groups:
            for view in group.bots:
                reading = readings.get(view.flow_run_id)
                if reading is None:
                    continue
                labels = [group.name, str(view.status.bot), view.status.host]
                taps.add_metric(labels, reading.taps)
                for kind, n in sorted(reading.inputs.items()):
                    inputs.add_metric([*labels, kind], n)
                errors.add_metric(labels, reading.capture_errors)
                found.add_metric(labels, reading.matches_found)
                for name, hist in reading.histograms.items():
                    hists[name].add_metric(labels, buckets=hist.buckets, sum_value=hist.sum)
                for kind, n in sorted(reading.failures.items()):
                    failures.add_metric([*labels, kind], n)
                for (rung, reason), n in sorted(reading.recoveries.items()):
                    recoveries.add_metric([*labels, rung, reason], n)
        yield from (taps, inputs, errors, found, *hists.values(), failures, recoveries)


    @staticmethod
    def _host(load: JsonObject) -> Iterator[Metric]:
        """The host's load and degraded mode as a launch of this machine sees them (emufleet.resources)."""
        host = [str(load.get("host", ""))]
        for name, key, text in (("cpu_percent", "cpu_percent", "Host CPU, percent of all cores"),
                                ("memory_percent", "memory_percent", "Host memory in use, percent"),
                                ("capture_ms", "capture_ms", "Median capture latency of the host's bots, ms"),
                                ("degraded", "degraded", "1 while the host is in degraded mode (captures slowed)"),
                                ("bots_shed", "shed", "Bots the running launch shed for lack of room")):
            value = load.get(key)
            if isinstance(value, bool | int | float):
                gauge = GaugeMetricFamily(f"emufleet_host_{name}", text, labels=["host"])
                gauge.add_metric(host, float(value))
                yield gauge
        spent = CounterMetricFamily("emufleet_host_degraded_seconds", "Seconds the host spent in degraded mode "
                                    "during the running launch", labels=["host"])
        spent.add_metric(host, float(load.get("degraded_s") or 0.0))
        yield spent


def render_metrics(numbers: FleetNumbers) -> bytes:
    """The exposition text of one scrape (the fleet's metrics; process metrics of the console included)."""
    from prometheus_client import PROCESS_COLLECTOR

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(numbers))
    registry.register(_Proxy(PROCESS_COLLECTOR))
    return generate_latest(registry)


class _Proxy(Collector):
    """Registers a collector that already lives in the default registry into another one."""

    def __init__(self, inner: Collector) -> None:
        self.inner = inner

    def collect(self) -> Iterable[Metric]:
        return self.inner.collect()
