"""The shipped Grafana dashboard (deployments/grafana/emufleet.json) asks only for metrics the console exports.

The exported names come from the console's own exposition code (:func:`console.metrics.render_metrics`) over a
fleet with one bot whose heartbeat carries every in-bot figure, parsed back with prometheus-client's parser.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from uuid import uuid4

import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.fleet import BotView, FleetSnapshot, RunningGroup
from console.metrics import FleetNumbers, render_metrics
from emufleet.bot.metrics import BotMetrics, read_payload
from emufleet.groups import BotState, BotStatus

DASHBOARD = Path(__file__).resolve().parents[2] / "deployments" / "grafana" / "emufleet.json"
# PromQL words that are not metric names: functions, aggregations, modifiers
_KEYWORDS = {"sum", "min", "max", "avg", "count", "rate", "irate", "increase", "histogram_quantile", "by", "without",
             "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless", "topk",
             "bottomk", "delta", "deriv", "abs", "clamp_min", "clamp_max", "label_values", "time", "vector"}


def exported_names() -> set[str]:
    """Every sample name one scrape of the console exposes (``_total``, ``_bucket``, ``_sum``, ``_count`` too)."""
    metrics = BotMetrics()
    metrics.input_sent("tap")
    metrics.captured(40.0)
    metrics.matched(0.004, True)
    metrics.capture_failed()
    metrics.failed("stuck")
    metrics.recovered("restart_app", "fault")
    reading = read_payload(metrics.payload())
    assert reading is not None
    run_id = uuid4()
    status = BotStatus(group="g", bot=0, instance="127.0.0.1:16384", state=BotState.RUNNING, steps_done=3)
    snapshot = FleetSnapshot(groups=[RunningGroup("g", uuid4(), "Running", datetime.now(UTC),
                                                  [BotView(status, run_id, "Running", datetime.now(UTC))])],
                             leases=[], taken_at=datetime.now(UTC))
    text = render_metrics(FleetNumbers(snapshot, {"available": 2}, {"demo": {"available": 2}},
                                       bot_metrics={run_id: reading})).decode()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers outside label matchers, ranges, strings and
    ``by (…)`` lists, that are not functions or keywords."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        word = match.group()
        if word in _KEYWORDS or expr[match.end():].lstrip().startswith("("):
            continue
        names.add(word)
    return names


def panels() -> list[dict[str, object]]:
    return list(json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"])


def test_metric_names_reads_promql() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, group) (rate(emufleet_bot_capture_seconds_bucket{group=~"$group"}'
            '[5m]))) / on (group) emufleet_bots{state="running"}')
    assert metric_names(expr) == {"emufleet_bot_capture_seconds_bucket", "emufleet_bots"}


@pytest.mark.parametrize("panel", panels(), ids=lambda p: str(p["title"]))
def test_every_panel_queries_exported_metrics(panel: dict[str, object]) -> None:
    exported = exported_names()
    targets = panel["targets"]
    assert isinstance(targets, list) and targets, f"panel {panel['title']!r} has no query"
    for target in targets:
        names = metric_names(target["expr"])
        assert names, f"panel {panel['title']!r}: {target['expr']!r} names no metric"
        missing = names - exported
        assert not missing, f"panel {panel['title']!r} asks for {sorted(missing)}, which the console does not export"


def test_the_group_variable_reads_an_exported_metric() -> None:
    variables = json.loads(DASHBOARD.read_text(encoding="utf-8"))["templating"]["list"]
    queries = [v["definition"] for v in variables if v["type"] == "query"]
    assert queries and all(re.search(r"label_values\((\w+),", q)[1] in exported_names() for q in queries)
