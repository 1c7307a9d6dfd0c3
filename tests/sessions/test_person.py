"""``emufleet sessions record``: a person's taps, swipe and key on the simulator, read from the device's ``getevent``
through the real adb server, become a session (``by: person``, a frame after each) that replays offline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from emufleet.errors import ReplayDivergence
from emufleet.sessions import ReplayDevice, Session
from emufleet.sessions.person import GeteventParser, axis_scale
from emufleet.vision import TemplateSet

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 60.0
pytestmark = pytest.mark.slow


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_a_person_playing_is_recorded_from_getevent_and_replays(simulator: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    from emufleet.cli import app
    from emufleet.device import connect

    inst = simulator(instances=1, scenario="demo").instances[0]
    assert inst.state == "launcher"
    x, y = TemplateSet.load(REPO / "templates" / "registry.yaml").space.device_point(171, 337)  # the app icon
    folder = tmp_path / "played"
    outcome: list[Any] = []
    recorder = threading.Thread(target=lambda: outcome.append(CliRunner().invoke(
        app, ["sessions", "record", str(folder), "--serial", inst.serial, "--inputs", "3"])))
    recorder.start()
    try:
        journal = folder / "session.jsonl"
        _wait(lambda: journal.exists() and '"type":"frame"' in journal.read_text(), "the first frame is recorded")
        player = connect(inst.serial)  # the person: another adb client sending input
        player.tap(x, y)
        player.swipe(100, 700, 400, 300, 200)
        player.key_event("KEYCODE_BACK")
    finally:
        recorder.join(WAIT_S)
    assert outcome and outcome[0].exit_code == 0, outcome[0].output if outcome else "the recorder did not end"
    assert "3 inputs" in outcome[0].output

    session = Session(folder)
    assert [(i.kind, i.args, i.by) for i in session.inputs] == [
        ("tap", {"x": x, "y": y}, "person"),
        ("swipe", {"x1": 100, "y1": 700, "x2": 400, "y2": 300, "duration_ms": 200}, "person"),
        ("key", {"key": "KEYCODE_BACK"}, "person")]
    assert len(session.captures) == 4 and session.header.reason == "recorded by a person"

    replayed = ReplayDevice(session)  # offline: the inputs advance the recorded frames
    before = replayed.screenshot()
    replayed.tap(x, y)
    after = replayed.screenshot()
    assert not np.array_equal(before, after), "the tap launched the game: the next frame shows it"
    replayed.swipe(100, 700, 400, 300, 200)
    replayed.key_event("KEYCODE_BACK")
    assert replayed.divergence is None and replayed.inputs_matched == 3
    wrong = ReplayDevice(session)
    wrong.screenshot()
    with pytest.raises(ReplayDivergence, match=r"expected tap\("):
        wrong.tap(x + 40, y)


def test_getevent_lines_of_a_real_device_become_gestures() -> None:
    described = ("add device 3: /dev/input/event5\n  events:\n"
                 "    ABS (0003): 0035  : value 0, min 0, max 32767, fuzz 0, flat 0, resolution 0\n"
                 "                0036  : value 0, min 0, max 32767, fuzz 0, flat 0, resolution 0\n")
    parser = GeteventParser(axis_scale(described, 540, 960))
    lines = ["[  100.000000] /dev/input/event5: EV_ABS       ABS_MT_TRACKING_ID   00000a01",
             "[  100.000000] /dev/input/event5: EV_KEY       BTN_TOUCH            DOWN",
             "[  100.000000] /dev/input/event5: EV_ABS       ABS_MT_POSITION_X    00004000",
             "[  100.000000] /dev/input/event5: EV_ABS       ABS_MT_POSITION_Y    00002000",
             "[  100.000000] /dev/input/event5: EV_SYN       SYN_REPORT           00000000",
             "[  100.250000] /dev/input/event5: EV_ABS       ABS_MT_POSITION_Y    00004000",
             "[  100.250000] /dev/input/event5: EV_SYN       SYN_REPORT           00000000",
             "[  100.400000] /dev/input/event5: EV_ABS       ABS_MT_TRACKING_ID   ffffffff",
             "[  100.400000] /dev/input/event5: EV_SYN       SYN_REPORT           00000000",
             "garbage that is no event line"]
    made = [g for g in map(parser.feed, lines) if g is not None]
    assert [(g.kind, g.args) for g in made] == [
        ("swipe", {"x1": 270, "y1": 240, "x2": 270, "y2": 480, "duration_ms": 400})]
