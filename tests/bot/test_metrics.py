"""The in-bot metrics recorder and its heartbeat payload (emufleet.bot.metrics)."""

from __future__ import annotations

from emufleet.bot.events import BotEvent, BotRef
from emufleet.bot.metrics import CAPTURE_BUCKETS_S, BotMetrics, read_payload
from emufleet.hosts import InstanceId


def test_histogram_buckets_are_cumulative_and_a_bound_is_in_its_own_bucket() -> None:
    metrics = BotMetrics()
    for ms in (5.0, 10.0, 40.0, 9000.0):
        metrics.captured(ms)
    reading = read_payload(metrics.payload())
    assert reading is not None
    buckets = dict(reading.histograms["capture_s"].buckets)
    assert len(buckets) == len(CAPTURE_BUCKETS_S) + 1
    assert buckets["0.01"] == 2, "10 ms is ≤ 0.01 s"
    assert buckets["0.05"] == 3 and buckets["5.0"] == 3 and buckets["+Inf"] == 4
    assert abs(reading.histograms["capture_s"].sum - 9.055) < 1e-9


def test_the_payload_is_a_flat_event_payload_and_reads_back() -> None:
    metrics = BotMetrics()
    metrics.input_sent("tap")
    metrics.input_sent("tap")
    metrics.input_sent("swipe")
    metrics.capture_failed()
    metrics.matched(0.003, True)
    metrics.matched(0.2, False)
    metrics.failed("stuck")
    metrics.recovered("restart_app", "operator")
    event = BotEvent("bot.heartbeat", BotRef("g", 0, InstanceId("local", "emulator-5554")),
                     {"state": "running", **metrics.payload()})
    reading = read_payload(event.payload)
    assert reading is not None
    assert reading.taps == 2 and reading.inputs == {"tap": 2, "swipe": 1}
    assert reading.capture_errors == 1 and reading.matches_found == 1
    assert dict(reading.histograms["match_s"].buckets)["0.005"] == 1
    assert dict(reading.histograms["match_s"].buckets)["+Inf"] == 2
    assert reading.failures == {"stuck": 1} and reading.recoveries == {("restart_app", "operator"): 1}


def test_a_heartbeat_without_figures_reads_as_none() -> None:
    assert read_payload({"state": "running", "steps_done": 3}) is None
