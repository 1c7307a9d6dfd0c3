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
    assert bot["instance"] == serial and bot["account"] and bot["account_since"]
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
