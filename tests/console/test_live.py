"""A group launched from the console's API on a simulated device: its bot live in /api/instances, /metrics and
the SSE stream; paused, resumed and stopped from the API. Real adb server, simulator, Prefect server, SQLite."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def wait_for(check: Callable[[], Any], timeout_s: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def bot_of(client: Any, group: str) -> dict[str, Any] | None:
    groups = client.get("/api/instances").json()["groups"]
    entry = next((g for g in groups if g["group"] == group), None)
    return entry["bots"][0] if entry and entry["bots"] else None


def test_launch_watch_pause_resume_stop_from_the_api(make_client: Any, prefect_server: Any, fleet_home: FleetHome,
                                                     simulator: Callable[..., Any]) -> None:
    client = make_client(prefect_ui_url=prefect_server.ui_url)
    serial = simulator(instances=1).instances[0].serial
    fleet_home.group("live", routine="test/long_step", backend_options={"serials": [serial]})

    launched = client.post("/api/groups/live/launch", json={"routine_config": {}})
    assert launched.status_code == 202, launched.text
    body = launched.json()
    run_id = body["flow_run_id"]
    assert run_id and body["flow_run_url"] == f"{prefect_server.ui_url}/runs/flow-run/{run_id}"

    def sleeping() -> dict[str, Any] | None:
        bot = bot_of(client, "live")
        return bot if bot and bot["state"] == "running" and (bot["step"] or "").startswith("1:") else None

    bot = wait_for(sleeping, what="the bot in its long step")
    assert bot["instance"] == f"local/{serial}" and bot["account"] and bot["account_since"]
    assert bot["flow_run_url"].startswith(prefect_server.ui_url)
    metrics = client.get("/metrics").text
    assert 'emufleet_bots{group="live",state="running"} 1.0' in metrics
    assert "emufleet_leases_held 1.0" in metrics and 'emufleet_launches_running{group="live"} 1.0' in metrics
    assert client.delete("/api/groups/live").status_code == 409  # running: refused

    assert client.post("/api/groups/live/pause").json()["flow_runs"] == 1
    wait_for(lambda: (bot_of(client, "live") or {}).get("state") == "paused", what="paused")
    client.post("/api/groups/live/resume", params={"bot": 0})
    wait_for(lambda: (bot_of(client, "live") or {}).get("state") == "running", what="running again")
    assert client.post("/api/groups/live/stop").json()["flow_runs"] >= 1
    wait_for(lambda: not any(g["group"] == "live" for g in client.get("/api/instances").json()["groups"]),
             what="the group gone")
    assert "emufleet_leases_held 0.0" in client.get("/metrics").text  # the account was returned


def test_sse_stream_sends_the_live_fragments(served: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("listed", instances=[3])
    seen: dict[str, str] = {}
    with httpx.stream("GET", f"{served.url}/live", timeout=10.0) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in reply.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event:
                seen[event] = seen.get(event, "") + line.removeprefix("data: ") + "\n"
            elif not line and {"hello", "running", "instances"} <= set(seen):
                break
    assert "No group is running" in seen["running"]
    assert "listed" in seen["instances"]  # its instance 3 is listed as inactive, with the group's chip


RESTARTABLE = """
version: 1
routine_name: Test restart and metrics
description: An account, the title screen (a checkpoint), a tap, then a long step to restart the app in.
steps:
  - {action: InjectNextAccount, timeout: 2s, on_no_accounts: stop}
  - {action: WaitForImage, template: TapToStart, timeout: 30s, checkpoint: true}
  - {action: Click, x: 10, y: 10}
  - {action: Sleep, duration: 120s}
  - {action: CompleteAccount, success: true}
"""


def test_restart_app_from_the_api_and_the_bots_own_metrics_on_metrics(
        make_client: Any, prefect_server: Any, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    client = make_client(prefect_ui_url=prefect_server.ui_url)
    serial = simulator(instances=1).instances[0].serial
    (fleet_home.root / "routines" / "test" / "restartable.yaml").write_text(RESTARTABLE, encoding="utf-8")
    fleet_home.group("restartable", routine="test/restartable", backend_options={"serials": [serial]},
                     health={"heartbeat": "1s"})  # the operator's recovery reaches /metrics within a second
    assert client.post("/api/groups/restartable/restart-app").status_code == 409  # not running yet
    assert client.post("/api/groups/restartable/launch", json={}).status_code == 202

    def in_long_step() -> dict[str, Any] | None:
        bot = bot_of(client, "restartable")
        return bot if bot and bot["state"] == "running" and (bot["step"] or "").startswith("3:") else None

    bot = wait_for(in_long_step, what="the bot in its long step")
    account = bot["account"]
    assert account and bot["recoveries"] == {}
    reply = client.post("/api/groups/restartable/restart-app", params={"bot": 0})
    assert reply.status_code == 200 and reply.json()["bots"] == 1, reply.text
    assert client.post("/api/groups/restartable/restart-app", params={"bot": 7}).status_code == 409  # no such bot

    def recovered() -> dict[str, Any] | None:
        bot = in_long_step()
        return bot if bot and bot["recoveries"] == {"restart_app": 1} else None  # by rung

    bot = wait_for(recovered, what="the app restarted and the routine back in its long step")
    assert bot["account"] == account, "the same account, on the lease it held"
    assert bot["state"] == "running" and bot["accounts_failed"] == 0

    def scraped() -> str | None:
        text = client.get("/metrics").text
        return text if 'reason="operator"' in text else None

    text = wait_for(scraped, timeout_s=30, what="the operator's recovery in the bot's heartbeat on /metrics")
    labels = 'group="restartable",host="local"'
    series = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("emufleet_bot_") and 'bot="0"' in line}
    taps = next(v for k, v in series.items() if k.startswith("emufleet_bot_taps_total"))
    assert taps >= 1, series
    captures = [v for k, v in series.items() if k.startswith("emufleet_bot_capture_seconds_bucket")]
    assert captures and max(captures) >= 1, "capture latency buckets hold the bot's captures"
    assert any(k.startswith("emufleet_bot_match_seconds_count") and v >= 1 for k, v in series.items())
    assert any(k.startswith("emufleet_bot_recoveries_total") and 'rung="restart_app"' in k and v == 1
               for k, v in series.items()), series
    assert f'emufleet_bot_taps_total{{bot="0",{labels}}}' in series, "labelled group, bot and host"
    client.post("/api/groups/restartable/stop")
    wait_for(lambda: not any(g["group"] == "restartable" for g in client.get("/api/instances").json()["groups"]),
             what="the group gone")
