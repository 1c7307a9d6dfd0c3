"""The live fragments render what a bot reports, health and last failure included (fields the engine's
``BotStatus`` gains; rendered whenever present), from a snapshot built by hand: no Prefect, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from console.app import templates
from console.config import ConsoleConfig
from console.fleet import BotView, FleetSnapshot, RunningGroup
from console.pages import live_fragments
from emufleet.db import utcnow
from emufleet.groups import BotState, BotStatus, GroupDefinition
from emufleet.pools import LeaseRow


class ReportingStatus(BotStatus):
    health: dict[str, Any] | None = None
    last_failure: dict[str, Any] | None = None


def test_instances_fragment_shows_account_since_health_and_last_failure() -> None:
    status = ReportingStatus(group="g", bot=0, instance="127.0.0.1:16384", state=BotState.RUNNING,
                             step="2: ClickImage", account="a@x.invalid", steps_done=7,
                             health={"screen": "ok", "adb_ms": 12},
                             last_failure={"message": "template OK not found", "frame": "var/frames/g-0-7.png"})
    run_id = uuid4()
    started = datetime.now(UTC) - timedelta(minutes=3)
    group = RunningGroup("g", uuid4(), "Running", started, [BotView(status, run_id, "Running", started)])
    definition = GroupDefinition(name="g", routine="r", instances=["127.0.0.1:16384", 5], bots=1, pools=["p"])
    lease = LeaseRow(1, "a@x.invalid", "run", "127.0.0.1:16384", utcnow() - timedelta(seconds=90),
                     utcnow() + timedelta(minutes=4))
    snap = FleetSnapshot([group], [lease], utcnow(), pools={"p": {"available": 3, "in_use": 1, "completed": 8}},
                         definitions={"g": definition})
    html = live_fragments(templates(ConsoleConfig(prefect_ui_url="http://ui")), snap)
    card = html["instances"]
    assert 'data-state="running"' in card and "a@x.invalid" in card and "2: ClickImage" in card
    assert "since " in card and "1m 3" in card  # leased 90 s ago
    assert "screen: ok" in card and "adb_ms: 12" in card
    assert "template OK not found" in card and "var/frames/g-0-7.png" in card
    assert f'href="http://ui/runs/flow-run/{run_id}"' in card
    idle = card.split("<h2>Idle</h2>")[1].split("<h2>Inactive</h2>")[0]
    assert "5 <span" in idle and "16384" not in idle  # listed by the running group, no bot on it
    assert "3/12" in html["running"]  # pool progress: remaining/total


def test_instances_on_named_hosts_are_shown_as_host_slash_instance() -> None:
    status = BotStatus(group="g", bot=0, instance="hostb/127.0.0.1:16384", state=BotState.RUNNING)
    group = RunningGroup("g", uuid4(), "Running", utcnow(), [BotView(status, uuid4(), "Running", utcnow())])
    definition = GroupDefinition(name="g", routine="r", bots=1, pools=["p"],
                                 instances=[{"host": "hostb", "instance": "127.0.0.1:16384"}, "hostc/2"])
    other = GroupDefinition(name="h", routine="r", bots=1, pools=["p"], instances=[{"host": "hostd", "instance": 4}])
    snap = FleetSnapshot([group], [], utcnow(), pools={}, definitions={"g": definition, "h": other})
    card = live_fragments(templates(ConsoleConfig(prefect_ui_url="http://ui")), snap)["instances"]
    idle = card.split("<h2>Idle</h2>")[1].split("<h2>Inactive</h2>")[0]
    assert "hostc/2" in idle and "hostb/" not in idle  # the bot's own instance is not idle
    assert "hostd/4" in card.split("<h2>Inactive</h2>")[1] and "host=" not in card  # never pydantic's repr


def test_quarantined_instances_carry_a_badge_with_the_reason() -> None:
    status = BotStatus(group="g", bot=0, instance="local/127.0.0.1:16384", state=BotState.RUNNING)
    group = RunningGroup("g", uuid4(), "Running", utcnow(), [BotView(status, uuid4(), "Running", utcnow())])
    definition = GroupDefinition(name="q", routine="r", bots=1, pools=["p"], instances=["127.0.0.1:16416"])
    reason = "5 fault(s) in the last 60 min"
    snap = FleetSnapshot([group], [], utcnow(), definitions={"q": definition},
                         quarantined={"local/127.0.0.1:16384": reason, "127.0.0.1:16384": reason,
                                      "local/127.0.0.1:16416": reason, "127.0.0.1:16416": reason})
    card = live_fragments(templates(ConsoleConfig(prefect_ui_url="http://ui")), snap)["instances"]
    assert f'data-quarantined="local/127.0.0.1:16384" title="{reason}"' in card  # the bot's instance
    assert 'data-quarantined="127.0.0.1:16416"' in card.split("<h2>Inactive</h2>")[1]
    clear = FleetSnapshot([group], [], utcnow(), definitions={"q": definition})
    assert "data-quarantined" not in live_fragments(templates(ConsoleConfig()), clear)["instances"]
