"""The live wall's HTTP API through the TestClient on the console's real database: the instance a query names is
parsed into an InstanceId (``full``; ``host`` + ``serial``), the wire format ``static/wall.js`` reads is kept, and a
malformed instance is a 422 naming its parameter, with no look recorded. The page itself: test_wall_browser.py."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import insert

from emufleet.db import LiveWatch
from emufleet.hosts import InstanceId
from emufleet.wall import store
from tests.fleet import FleetHome

SCREEN = InstanceId("h1", "127.0.0.1:16384")


def test_the_wall_api_names_instances_and_refuses_malformed_ones(make_client: Callable[..., Any],
                                                                  fleet_home: FleetHome) -> None:
    client = make_client()
    engine = fleet_home.engine()
    at = time.time()
    store.publish(engine, SCREEN, b"\xff\xd8frame", at=at, width=540, height=960, full=False, source="bot",
                  group="g", bot=2)

    reply = client.get("/api/wall", params={"full": SCREEN.key, "since": ""})
    assert reply.status_code == 200, reply.text
    screen, = (s for s in reply.json()["screens"] if s["host"] == "h1")
    assert screen["serial"] == SCREEN.serial and screen["at"] == at and (screen["group"], screen["bot"]) == ("g", 2)
    assert screen["jpeg"] == "/9hmcmFtZQ==", "a page that saw nothing gets the frame inline"
    assert store.watching(engine, SCREEN).full, "the full view of the instance the query named"
    assert store.watching(engine, InstanceId("h2", "x")) == store.Watch(True, False), "and the whole wall"

    frame = client.get("/api/wall/frame", params={"host": "h1", "serial": SCREEN.serial, "at": at})
    assert frame.status_code == 200 and frame.content == b"\xff\xd8frame"
    assert client.get("/api/wall/frame", params={"host": "h1", "serial": "other"}).status_code == 404

    for path, params, where in [("/api/wall", {"full": "h1/a/b"}, "full"),
                                ("/api/wall", {"full": "no host/x"}, "full"),
                                ("/api/wall/frame", {"host": "h1", "serial": " x"}, "serial"),
                                ("/api/wall/frame", {"host": "*", "serial": "x"}, "host")]:
        bad = client.get(path, params=params)
        assert bad.status_code == 422, (params, bad.text)
        assert [e["loc"] for e in bad.json()["detail"]] == [["query", where]], bad.text
    with engine.begin() as conn:  # what a console before InstanceId wrote for ?full=h1/a/b: no instance, skipped
        conn.execute(insert(LiveWatch).values(host="h1", serial="a/b", full=True, until=time.time() + 60))
    looks = store.looks(engine, ("h1", "no host"))
    assert set(looks.instances) == {SCREEN}, "a refused query records no look"
