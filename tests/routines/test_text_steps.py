"""Text and colour steps on the demo game's home screen (a stand-in device showing its committed PNG; OCR and
OpenCV run for real): conditions, reads, taps, evidence, load-time errors, numbers recorded on the account."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from emufleet.errors import RoutineError
from emufleet.routines import AccountResult, RoutineRun
from emufleet.vision import TemplateSet

from .conftest import Bot, ScreenDevice
from .test_interpreter import Pool

REPO = Path(__file__).resolve().parents[2]
HOME = REPO / "emufleet" / "sim" / "scenarios" / "demo" / "screens" / "home.png"


class Picture(ScreenDevice):
    """The stand-in device showing one picture."""

    def __init__(self, templates: TemplateSet, picture: np.ndarray) -> None:
        super().__init__(templates)
        self.picture = picture

    def screenshot(self) -> np.ndarray:
        return self.picture


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Bot]:
    templates = TemplateSet.load(REPO / "templates" / "registry.yaml")
    b = Bot(tmp_path / "routines", templates)
    frame = cv2.imread(str(HOME), cv2.IMREAD_COLOR)
    assert frame is not None
    b.device = Picture(templates, frame)
    yield b
    b.controller.stop()


def run(bot: Bot, text: str, **kwargs: Any) -> Any:
    bot.write("main", text)
    ctx = bot.context(**kwargs)
    assert not ctx.registry.invalid(), ctx.registry.invalid()
    RoutineRun(ctx.registry.get("main"), ctx, {}).run()
    return ctx


def test_reading_the_home_screen(demo: Bot) -> None:
    ctx = run(demo, r"""
steps:
  - action: If
    condition: {type: TextVisible, region: {x1: 78, y1: 186, x2: 200, y2: 212}, text: aurora pack, ignore_case: true}
    then: [{action: SetVariable, name: banner, value: shown}]
  - action: If
    condition: {type: TextVisible, region: {x1: 78, y1: 186, x2: 200, y2: 212}, pattern: 'BOREAL'}
    then: [{action: SetVariable, name: banner, value: wrong}]
  - {action: ReadNumber, region: {x1: 169, y1: 59, x2: 207, y2: 78}, save_to: dust}
  - {action: ReadNumber, region: {x1: 230, y1: 59, x2: 268, y2: 78}, save_to: coins}
  - {action: ReadText, region: {x1: 66, y1: 110, x2: 160, y2: 152}, save_to: player}
  - {action: ReadNumber, region: {x1: 66, y1: 110, x2: 160, y2: 134}, pattern: 'Player (\d+)', save_to: pid}
  - {action: ClickText, region: {x1: 0, y1: 480, x2: 277, y2: 534}, text: MISSIONS}
  - action: If
    condition: {type: ColorInRegion, region: {x1: 216, y1: 59, x2: 232, y2: 78},
                hsv: {min: [15, 120, 150], max: [35, 255, 255]}, min_fraction: 0.3}
    then: [{action: SetVariable, name: coin, value: gold}]
  - action: If
    condition: {type: ColorInRegion, region: {x1: 20, y1: 395, x2: 40, y2: 405}, mean: [60, 150, 90], tolerance: 20}
    then: [{action: SetVariable, name: tile, value: green}]
""")
    values = ctx.variables.snapshot()
    assert values["banner"] == "shown"
    assert (values["dust"], values["coins"], values["pid"]) == ("1250", "8400", "417")
    assert values["player"] == "Player 0417 Lv. 12"
    (tap,) = demo.device.taps
    assert 205 <= tap[0] <= 335 and 858 <= tap[1] <= 922, tap  # inside the drawn MISSIONS button
    assert (values["coin"], values["tile"]) == ("gold", "green")
    reads = [s for e in demo.events if e.action == "ReadNumber" and e.kind == "finished" for s in e.scores]
    assert reads[0].template == "text read '1,250'" and reads[0].found and reads[0].location is not None


def test_what_is_not_a_number_fails_with_evidence_or_gives_the_default(demo: Bot) -> None:
    with pytest.raises(RoutineError, match=r"steps\[1\] ReadNumber \(.*main.yaml:3\): not a number: read 'HOME'"):
        run(demo, "steps:\n  - {action: SetVariable, name: a, value: b}\n"
                  "  - {action: ReadNumber, region: {x1: 30, y1: 59, x2: 72, y2: 78}, save_to: n}\n")
    failed = [e for e in demo.events if e.kind == "failed"][-1]
    (score,) = failed.scores
    assert score.template == "text read 'HOME'" and score.region is not None and score.location is not None
    ctx = run(demo, "steps:\n  - {action: ReadNumber, region: {x1: 30, y1: 59, x2: 72, y2: 78}, save_to: n, "
                    "default: '0'}\n")
    assert ctx.variables.get("n") == "0"
    with pytest.raises(RoutineError, match=r"text 'MENUS' not found \(read '"):
        run(demo, "steps:\n  - {action: ClickText, region: {x1: 0, y1: 480, x2: 277, y2: 534}, text: MENUS}\n")


def test_numbers_read_are_recorded_on_the_account(demo: Bot) -> None:
    pool = Pool()
    run(demo, """
steps:
  - {action: InjectNextAccount}
  - {action: ReadNumber, region: {x1: 169, y1: 59, x2: 207, y2: 78}, save_to: dust, record: shinedust}
  - {action: ReadNumber, region: {x1: 230, y1: 59, x2: 268, y2: 78}, save_to: c, record: cards_found}
  - {action: CompleteAccount, success: true, keep_count: 2}
  - {action: InjectNextAccount}
  - {action: CompleteAccount, success: true}
""", accounts=pool)
    assert pool.fields["shinedust"] == "1250"
    completes = [entry[2] for entry in pool.log if entry[0] == "complete"]
    assert completes == [AccountResult(success=True, cards_found=8400, keep_count=2),
                         AccountResult(success=True)]  # the next account does not inherit what was read


@pytest.mark.parametrize(("step", "message"), [
    ("{action: ReadText, save_to: t}", "give region {x1, y1, x2, y2} or whole_screen: true"),
    ("{action: ReadText, save_to: t, whole_screen: true, region: {x1: 0, y1: 50, x2: 9, y2: 60}}", "give region"),
    ("{action: ClickText, whole_screen: true}", "give text (a literal) or pattern"),
    ("{action: ClickText, whole_screen: true, pattern: '(x'}", "bad regular expression"),
    ("{action: ReadNumber, whole_screen: true, save_to: n, record: gems}", "record"),
    ("{action: ReadNumber, whole_screen: true, save_to: n, lang: fr}", "lang"),
    ("{action: If, condition: {type: ColorInRegion, region: {x1: 0, y1: 50, x2: 9, y2: 60}, rgb: {min: [0, 0, 0], "
     "max: [9, 9, 9]}, mean: [1, 2, 3]}, then: [{action: Break}]}", "exactly one of rgb, hsv"),
    ("{action: If, condition: {type: ColorInRegion, region: {x1: 0, y1: 50, x2: 9, y2: 60}, rgb: {min: [0, 0, 0], "
     "max: [300, 9, 9]}}, then: [{action: Break}]}", "less than or equal to 255"),
    ("{action: If, condition: {type: ColorInRegion, region: {x1: 0, y1: 50, x2: 9, y2: 60}, rgb: {min: [9, 0, 0], "
     "max: [1, 9, 9]}}, then: [{action: Break}]}", "exceeds upper"),
    ("{action: If, condition: {type: Recognized, recognizer: nope}, then: [{action: Break}]}", "unknown recognizer"),
])
def test_bad_steps_are_located_load_errors(demo: Bot, step: str, message: str) -> None:
    demo.write("bad", f"steps:\n  - {{action: Sleep, duration: 1}}\n  - {step}\n")
    (error,) = demo.context().registry.invalid()["bad"]
    assert ":3:" in str(error) and message in str(error), str(error)
