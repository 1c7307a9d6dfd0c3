"""The flight recorder of a launched bot (Prefect, simulator, real adb server): *Record now* from the console's API
writes the bot's ring as a session, listed by the console and linked from the bot's flow run as an artifact."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from emufleet.sessions import Session
from tests.console.test_live import bot_of, wait_for
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_record_now_writes_a_session_listed_and_linked_from_the_bot_run(
        make_client: Any, prefect_server: Any, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    client = make_client(prefect_ui_url=prefect_server.ui_url)
    serial = simulator(instances=1).instances[0].serial
    fleet_home.group("flight", routine="test/long_step", backend_options={"serials": [serial]},
                     record={"seconds": "30s", "max_frames": 20})
    assert client.post("/api/groups/flight/launch", json={}).status_code == 202

    def sleeping() -> dict[str, Any] | None:
        bot = bot_of(client, "flight")
        return bot if bot and bot["state"] == "running" and (bot["step"] or "").startswith("1:") else None

    bot = wait_for(sleeping, what="the bot in its long step")
    run_id = bot["flow_run_url"].rsplit("/", 1)[-1]
    assert client.post("/api/groups/flight/record", params={"bot": 0}).json()["bots"] == 1
    listed = wait_for(lambda: [s for s in client.get("/api/sessions").json() if s["reason"] == "operator"],
                      what="the operator's session listed")
    assert listed[0]["serial"] == serial and listed[0]["routine"] == "test/long_step" and not listed[0]["error"]
    folder = Path(listed[0]["folder"])
    assert folder.is_relative_to(fleet_home.root / "state" / "sessions" / "flight" / "bot-0" / run_id)
    session = Session(folder)
    assert any(e.by == "routine" and e.step and e.step.action == "InjectNextAccount" for e in session.inputs), \
        "the ring held the account injection's inputs"
    assert session.end is not None and session.end.reason == "operator"
    page = client.get("/sessions").text
    assert f"emufleet sessions replay {folder} test/long_step" in page

    async def artifacts() -> list[Any]:
        async with get_client() as prefect:
            return list(await prefect.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))))

    linked = wait_for(lambda: [a for a in asyncio.run(artifacts()) if a.key == "session-flight-bot-0"],
                      what="the artifact on the bot's run")
    assert str(folder) in str(linked[0].data) and "Flight recorder: operator" in str(linked[0].data)
    client.post("/api/groups/flight/stop")
    wait_for(lambda: not any(g["group"] == "flight" for g in client.get("/api/instances").json()["groups"]),
             what="the group gone")
