"""The live wall's engine on the simulator through the real adb server and a migrated database: nothing is
captured or published while nobody looks; an idle instance is captured on its host, a bot's instance never is
(its own captures are published, with its step's checks); the full view publishes at device size."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine

from emufleet.device import connect
from emufleet.hosts import InstanceId
from emufleet.routines.context import MatchScore, StepEvent
from emufleet.sessions.format import FrameEvent
from emufleet.sessions.recording import Entry
from emufleet.vision import Region
from emufleet.wall import IdleCapturer, LiveFeed, WallPublisher, store
from tests.console.test_live import wait_for

pytestmark = pytest.mark.slow
HOST = "h1"


def by_serial(engine: Engine) -> dict[str, store.Screen]:
    return {s.instance.serial: s for s in store.screens(engine) if s.instance.host == HOST}


def test_idle_instances_are_captured_while_watched_and_a_bot_s_never(simulator: Callable[..., Any],
                                                                       db_engine: Engine) -> None:
    driven, idle = simulator(instances=2, scenario="demo").instances
    mine_id, idle_id = InstanceId(HOST, driven.serial), InstanceId(HOST, idle.serial)
    feed = LiveFeed(db_engine, mine_id, group="g", bot=3)
    feed.start()  # the bot opens its device: the wall knows it drives it
    capturer = IdleCapturer(db_engine, HOST, interval_s=0)
    try:
        assert capturer.tick() == 0 and by_serial(db_engine) == {}, "nobody looks: nothing captured"
        store.want_wall(db_engine)
        assert capturer.tick() == 1
        screens = by_serial(db_engine)
        assert set(screens) == {idle.serial} and screens[idle.serial].source == "idle"
        assert capturer.captured == {idle_id: 1}, "the driven instance was not captured by the wall"

        device = connect(driven.serial)  # the bot's own capture, and its step's checks
        frame = device.screenshot()
        feed.on_step(StepEvent("finished", "demo/x", "steps[2]", "ClickIfImageFound", 0, scores=(
            MatchScore("OK", 0.41, False, threshold=0.8, region=Region(10, 20, 110, 120),
                       location=Region(30, 40, 60, 70)),)))
        feed.add(Entry(FrameEvent(t=time.time(), frame=""), image=frame))
        mine = wait_for(lambda: by_serial(db_engine).get(driven.serial), what="the bot's frame published")
        assert mine.source == "bot" and (mine.group, mine.bot) == ("g", 3) and mine.driven
        assert mine.step == "steps[2] ClickIfImageFound" and not mine.full and mine.width == frame.shape[1]
        check = json.loads(mine.overlay or "[]")[0]
        assert check["template"] == "OK" and check["region"] == [10, 20, 110, 120] and not check["found"]
        thumb = store.jpeg(db_engine, mine_id)
        assert thumb is not None and thumb[:2] == b"\xff\xd8"

        store.want(db_engine, mine_id, full=True)  # the full view: device size
        assert store.watching(db_engine, mine_id).full and not store.watching(db_engine, idle_id).full
        feed.add(Entry(FrameEvent(t=time.time(), frame=""), image=frame))
        wait_for(lambda: by_serial(db_engine)[driven.serial].full, what="a full-size frame")
        full = store.jpeg(db_engine, mine_id)
        assert full is not None and len(full) > len(thumb)
    finally:
        feed.close()
    assert not by_serial(db_engine)[driven.serial].driven, "released when the bot ended"
    assert mine_id in {s.instance for s in store.screens(db_engine)}
    assert capturer.tick() == 2, "once no bot drives it, the host captures it"


def test_a_frame_a_failed_round_did_not_store_is_handed_out_again(db_engine: Engine) -> None:
    feed = LiveFeed(db_engine, InstanceId(HOST, "f0"), group="g", bot=0)
    feed.add(Entry(FrameEvent(t=time.time(), frame=""), image=np.full((96, 54, 3), 40, np.uint8)))
    look = store.Watch(True)
    first = feed.due(look)
    assert first is not None
    again = feed.due(look)  # the round that took `first` failed: the wall does not have it
    assert again is not None and again.at == first.at
    feed.delivered()
    assert feed.due(look) is None and feed.published == 1, "stored once: not again until the screen changes"


def test_one_thread_publishes_every_bot_of_a_process_in_one_round(db_engine: Engine) -> None:
    publisher = WallPublisher(db_engine, interval_s=0.05)  # as run_bot shares one per launch
    feeds = [LiveFeed(db_engine, InstanceId(HOST, f"p{i}"), group="g", bot=i, publisher=publisher) for i in range(3)]

    def capture(n: int) -> None:  # each bot's n-th screen, all different
        for i, feed in enumerate(feeds):
            image = np.full((96, 54, 3), 10 * n, np.uint8)
            image[i, :] = 255
            feed.add(Entry(FrameEvent(t=time.time(), frame=""), image=image))

    for feed in feeds:
        feed.start()
    try:
        assert [t.name for t in threading.enumerate()].count("emufleet-wall") == 1
        capture(1)  # captured while nobody looks: nothing published, then all three in the first round that sees a look
        store.want_wall(db_engine)
        wait_for(lambda: all(f.published == 1 for f in feeds), what="each bot's frame published")
        assert publisher.rounds == 1, "one round (one transaction) for the three bots"
        first = by_serial(db_engine)
        assert sorted(first) == ["p0", "p1", "p2"] and {s.source for s in first.values()} == {"bot"}
        capture(2)  # the rows exist now: updated in place
        wait_for(lambda: all(f.published == 2 for f in feeds), what="each bot's next frame published")
        again = by_serial(db_engine)
        assert all(again[k].at > first[k].at for k in first)
        assert set(store.jpegs(db_engine, [InstanceId(HOST, "p1")])) == {InstanceId(HOST, "p1")}
    finally:
        for feed in feeds:
            feed.close()
    assert "emufleet-wall" not in [t.name for t in threading.enumerate()], "the last feed stopped the thread"
    assert not any(s.driven for s in by_serial(db_engine).values())


def test_the_console_reads_each_frame_once_and_sends_a_page_only_the_newer_ones() -> None:
    from console.api.wall import FrameCache

    cache = FrameCache()
    a, b = InstanceId("h", "a"), InstanceId("h", "b")
    assert cache.changed({a: 1.0, b: 1.0}) == [a, b]
    cache.put({a: (1.0, b"A1"), b: (1.0, b"B1")})
    first = cache.token
    assert cache.newer("") == {a: b"A1", b: b"B1"}, "a new page gets every frame"
    assert cache.changed({a: 2.0, b: 1.0}) == [a], "b's frame is held already: not read again"
    cache.put({a: (2.0, b"A2")})
    assert cache.newer(first) == {a: b"A2"} and cache.newer(cache.token) == {}
    assert cache.newer("0000:99") == {a: b"A2", b: b"B1"}, "a token of another console run: every frame"
    assert cache.changed({b: 1.0}) == [] and set(cache.frames) == {b}, "an instance gone from the wall is forgotten"
