"""The dashboard, the launch history and the quarantine pages and API, through the TestClient, on data written
into the console's real database (the end-to-end path from a launch is in tests/flows/test_farm_launch.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import insert

from console.farm import BotCounts, bot_counts
from console.fleet import BotView, FleetSnapshot, RunningGroup
from emufleet import db
from emufleet.db import utcnow
from emufleet.farm import quarantine, record_end, record_start
from emufleet.groups.status import BotState, BotStatus
from emufleet.hosts import InstanceId
from tests.fleet import FleetHome

pytestmark = pytest.mark.prefect


def _seed(fleet_home: FleetHome) -> None:
    eng = fleet_home.engine()
    now = utcnow()
    record_start(eng, "11111111-2222-3333-4444-555555555555", "alpha", bots=2, at=now - timedelta(hours=3))
    record_end(eng, "11111111-2222-3333-4444-555555555555", "Completed", "2 accounts done", at=now - timedelta(hours=2))
    record_start(eng, "L-beta", "beta", bots=1, at=now - timedelta(minutes=30))
    base = {"group_name": "alpha", "bot": 0, "host": "local", "instance": "local/s0", "count": 1, "rung": None,
            "launch_id": "11111111-2222-3333-4444-555555555555"}
    with eng.begin() as conn:
        conn.execute(insert(db.FleetEvent), [
            {**base, "kind": "account.completed", "at": now - timedelta(hours=2, minutes=30)},
            {**base, "kind": "account.completed", "at": now - timedelta(hours=2, minutes=20)},
            {**base, "kind": "steps", "count": 720, "at": now - timedelta(hours=2, minutes=20)},
            {**base, "kind": "bot.recovering", "rung": "restart_app", "at": now - timedelta(hours=2, minutes=10)}])
    quarantine(eng, "instance", "local/s9", "5 fault(s) in the last 60 min")
    eng.dispose()


def test_dashboard_history_and_stats_api(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("alpha", schedule={"timezone": "Europe/Paris", "windows": ["18:00-02:00"], "margin": "10m"})
    _seed(fleet_home)
    group_page = client.get("/groups/alpha").text
    shown = "Windows 18:00-02:00 · Europe/Paris · stops taking accounts 600 s before a close or the reset"
    assert shown in group_page
    home = client.get("/?window=day")
    assert home.status_code == 200
    for text in ('data-chart="accounts_completed,accounts_failed"', 'data-total="accounts_completed">2<',
                 'data-pool="test"', "local/s9", "5 fault(s)", 'id="stats-data"'):
        assert text in home.text, text
    one = client.get("/?window=day&group=alpha&instance=local/s0")
    assert one.status_code == 200 and 'data-total="steps_per_s">720<' in one.text
    assert client.get("/?window=year").status_code == 422

    stats = client.get("/api/stats", params={"metric": ["accounts_completed", "recoveries"], "window": "day"}).json()
    assert len(stats["t"]) == 24 and stats["bucket_s"] == 3600
    assert sum(stats["series"]["accounts_completed"]["values"]) == pytest.approx(2)
    assert stats["series"]["recoveries"]["breakdown"] == {"restart_app": [0.0] * 21 + [1.0, 0.0, 0.0]} or \
        sum(stats["series"]["recoveries"]["breakdown"]["restart_app"]) == pytest.approx(1)
    assert client.get("/api/stats", params={"metric": "nope"}).status_code == 422
    assert client.get("/api/stats", params={"group": "beta"}).json()["series"]["accounts_completed"]["values"] \
        == [0.0] * 24

    history = client.get("/history")
    assert history.status_code == 200
    assert history.text.index("beta") < history.text.index("alpha")  # newest first
    assert "2 accounts done" in history.text and "restart_app 1" in history.text
    launches = client.get("/api/launches", params={"group": "alpha"}).json()
    assert [(x["group"], x["state"], x["recoveries"]) for x in launches] == [
        ("alpha", "Completed", {"restart_app": 1})]
    assert launches[0]["flow_run_url"].endswith("/runs/flow-run/11111111-2222-3333-4444-555555555555")
    assert client.get("/history?since=yesterday").status_code == 422

    # each launch links its bots' flight sessions: its group's, started between its start and its end
    from emufleet.sessions.store import group_sessions_root

    for group, label, hours_ago in (("alpha", "inside", 2.5), ("alpha", "after", 1.0), ("beta", "other", 2.5)):
        folder = group_sessions_root(group) / "bot-0" / "run" / label
        folder.mkdir(parents=True)
        started = (utcnow() - timedelta(hours=hours_ago) - datetime(1970, 1, 1)).total_seconds()
        (folder / "session.jsonl").write_text(json.dumps({"type": "session", "serial": "s0", "reason": label,
                                                          "started_at": started}) + "\n", encoding="utf-8")
    link = launches[0]["sessions_url"]
    assert f'href="{link.replace("&", "&amp;")}"' in history.text
    shown = client.get(link).text
    assert "data-filtered" in shown and 'data-reason>inside<' in shown
    assert "after" not in shown and "other" not in shown
    assert "data-reason>after<" in client.get("/sessions?group=alpha").text
    assert client.get("/sessions?since=noon").status_code == 422
    assert client.get("/api/launches", params={"until": "2000-01-01"}).json() == []
    assert "No launch matches these filters" in client.get("/history?until=2000-01-01").text


def test_release_from_quarantine(client: Any, fleet_home: FleetHome) -> None:
    _seed(fleet_home)
    assert [q["subject"] for q in client.get("/api/quarantines").json()] == ["local/s9"]
    page = client.post("/quarantines/release", data={"kind": "instance", "subject": "local/s9"},
                       follow_redirects=False)
    assert page.status_code == 303 and "released" in page.headers["location"]
    assert client.get("/api/quarantines").json() == []
    again = client.post("/api/quarantines/release", json={"kind": "instance", "subject": "local/s9"})
    assert again.status_code == 422 and "not quarantined" in again.text
    assert client.post("/api/quarantines/release", json={"kind": "host", "subject": "x"}).status_code == 422


def test_bot_counts_by_state(fleet_home: FleetHome) -> None:
    """Running, stuck (the ledger's newest entry of a running bot), recovering, paused, dead — and a failed bot
    that a newer bot replaced on its instance is not dead."""
    eng = fleet_home.engine()
    a, b, c = InstanceId("local", "s0"), InstanceId("local", "s1"), InstanceId("local", "s2")
    states = [(0, a, "failed"), (1, c, "failed"), (2, a, "running"), (3, b, "running"), (4, b, "recovering"),
              (5, b, "paused"), (6, b, "restarting")]
    bots = [BotView(BotStatus(group="g", bot=n, instance=i, state=BotState(st)), uuid4(), "Running", None)
            for n, i, st in states]
    with eng.begin() as conn:
        conn.execute(insert(db.FleetEvent), [{"group_name": "g", "bot": 3, "host": "local", "instance": "local/s1",
                                              "kind": "bot.stuck", "count": 1}])
    snap = FleetSnapshot([RunningGroup("g", None, "Running", None, bots)], [], utcnow())
    counts = bot_counts(eng, snap, idle=2)
    eng.dispose()
    assert counts == BotCounts(running=1, stuck=1, recovering=2, paused=1, idle=2, dead=1)
