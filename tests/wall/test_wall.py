"""The live wall's engine on the simulator through the real adb server and a migrated database: nothing is
captured or published while nobody looks; an idle instance is captured on its host, a bot's instance never is
(its own captures are published, with its step's checks); the full view publishes at device size."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from emufleet.device import connect
from emufleet.routines.context import MatchScore, StepEvent
from emufleet.sessions.format import FrameEvent
from emufleet.sessions.recording import Entry
from emufleet.vision import Region
from emufleet.wall import IdleCapturer, LiveFeed, store
from tests.console.test_live import wait_for

pytestmark = pytest.mark.slow
HOST = "h1"


def by_serial(engine: Engine) -> dict[str, store.Screen]:
    return {s.serial: s for s in store.screens(engine) if s.host == HOST}


def test_idle_instances_are_captured_while_watched_and_a_bot_s_never(simulator: Callable[..., Any],
                                                                       db_engine: Engine) -> None:
    driven, idle = simulator(instances=2, scenario="demo").instances
    feed = LiveFeed(db_engine, HOST, driven.serial, group="g", bot=3)
    feed.start()  # the bot opens its device: the wall knows it drives it
    capturer = IdleCapturer(db_engine, HOST, interval_s=0)
    try:
        assert capturer.tick() == 0 and by_serial(db_engine) == {}, "nobody looks: nothing captured"
        store.want(db_engine)
        assert capturer.tick() == 1
        screens = by_serial(db_engine)
        assert set(screens) == {idle.serial} and screens[idle.serial].source == "idle"
        assert capturer.captured == {idle.serial: 1}, "the driven instance was not captured by the wall"

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
        thumb = store.jpeg(db_engine, HOST, driven.serial)
        assert thumb is not None and thumb[:2] == b"\xff\xd8"

        store.want(db_engine, HOST, driven.serial, full=True)  # the full view: device size
        feed.add(Entry(FrameEvent(t=time.time(), frame=""), image=frame))
        wait_for(lambda: by_serial(db_engine)[driven.serial].full, what="a full-size frame")
        full = store.jpeg(db_engine, HOST, driven.serial)
        assert full is not None and len(full) > len(thumb)
    finally:
        feed.close()
    assert not by_serial(db_engine)[driven.serial].driven, "released when the bot ended"
    assert driven.serial in {s.serial for s in store.screens(db_engine)}
    assert capturer.tick() == 2, "once no bot drives it, the host captures it"
