"""Scenarios: loading, located validation errors, rendering, transitions (taps, timers, keys, app, files)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

from emufleet.errors import ScenarioError
from emufleet.settings import seed_assets_dir
from emufleet.sim.device import DeviceModel
from emufleet.sim.render import Renderer
from emufleet.sim.scenario import Scenario, load_scenario
from emufleet.sim.screen import ScreenMachine
from emufleet.vision import CoordinateSpace, TemplateSet, match
from tests.sim.helpers import BASIC, PREFS, run


def _write(tmp_path: Path, body: str, name: str = "scenario.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def _machine(scenario: Scenario, files: set[str]) -> tuple[ScreenMachine, list[float], list[tuple[str, str]]]:
    now = [100.0]
    seen: list[tuple[str, str]] = []
    machine = ScreenMachine(scenario, files.__contains__, lambda a, b, cause: seen.append((b, cause)),
                            clock=lambda: now[0])
    return machine, now, seen


# -- loading and rendering --------------------------------------------------------------------------------------
def test_basic_scenario_compiles(basic_scenario: Scenario) -> None:
    s = basic_scenario
    assert (s.name, s.width, s.height, s.initial, s.on_app_start, s.on_app_stop) == (
        "basic", 540, 960, "launcher", "splash", "launcher")
    space = CoordinateSpace()
    home_rule = s.states["home"].taps[1]  # [100, 400, 180, 430] in the default MuMu window space
    x1, y1 = space.to_device(100, 400)
    assert (home_rule.rect.x1, home_rule.rect.y1) == (int(np.floor(x1)), int(np.floor(y1)))
    assert s.states["home"].keys == {4: "launcher"}
    assert s.states["splash"].after == (300, "title")


def test_lookup_by_name_and_path(tmp_path: Path) -> None:
    assert load_scenario(BASIC.parent).name == "basic"  # a folder holding scenario.yaml
    with pytest.raises(ScenarioError, match="unknown scenario 'no-such-scenario'"):
        load_scenario("no-such-scenario")


def test_rendering_composes_and_caches(basic_scenario: Scenario) -> None:
    renderer = Renderer(basic_scenario)
    launcher = renderer.frame("launcher")
    assert renderer.frame("launcher") is launcher  # cached, PNG and RGBA included
    assert tuple(launcher.bgr[5, 5]) == (0x30, 0x28, 0x20)  # "#202830" as BGR
    icon = cv2.imread(str(BASIC.parent / "icon.png"))
    assert np.array_equal(launcher.bgr[100:200, 40:140], icon)
    menu = renderer.frame("menu").bgr  # base "state:home" + a button with transparent corners
    assert tuple(menu[5, 5]) == (0x50, 0xA0, 0x30)
    assert tuple(menu[400, 170]) == (0x50, 0xA0, 0x30)  # transparent corner: home shows through
    assert tuple(menu[440, 180]) == (60, 200, 90)  # opaque button body (drawn as BGRA 60, 200, 90)
    decoded = cv2.imdecode(np.frombuffer(renderer.frame("title").png, np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded, cv2.imread(str(BASIC.parent / "title.png")))


# -- transitions ------------------------------------------------------------------------------------------------
def test_taps_timers_and_file_guard(basic_scenario: Scenario) -> None:
    machine, now, seen = _machine(basic_scenario, set())
    assert machine.tap(5, 5) is None and machine.current() == "launcher"
    assert machine.tap(90, 150) == "splash"
    now[0] += 0.299
    assert machine.current() == "splash"
    now[0] += 0.002
    assert machine.current() == "title"  # the timer fired, however late we look
    machine.tap(270, 480)
    assert machine.current() == "login"  # enter → no account file → else: login
    machine.tap(270, 640)
    assert machine.current() == "home"
    assert machine.tap(200, 700) == "menu"  # the template-space rect
    assert machine.key(4) == "home" and machine.key(4) == "launcher" and machine.key(66) is None
    assert seen[2] == ("login", "tap 270,480; /data/data/com.example.simgame/shared_prefs/deviceAccount:.xml missing")


def test_file_guard_passes_when_the_file_exists(basic_scenario: Scenario) -> None:
    machine, now, seen = _machine(basic_scenario, {PREFS})
    machine.force("title")
    machine.tap(1, 1)
    assert machine.current() == "home"  # enter (guard passes) → 0-ms timer → home
    assert [to for to, _ in seen][-2:] == ["enter", "home"]


def test_timer_chain_lands_where_wall_clock_says(basic_scenario: Scenario) -> None:
    machine, now, _ = _machine(basic_scenario, {PREFS})
    machine.go("splash", "test")
    now[0] += 10.0  # nobody looked for 10 s: splash → title (timer) and title stays
    assert machine.current() == "title"


def test_app_events_and_file_guard_through_the_shell(device: DeviceModel) -> None:
    run(device, "monkey -p com.example.simgame 1")
    device.set_state("title")
    run(device, "input tap 10 10")
    assert device.state == "login"
    device.set_state("title")
    run(device, "echo '<map/>' > /sdcard/a.xml && su -c 'cp /sdcard/a.xml /data/data/com.example.simgame/"
                "shared_prefs/deviceAccount:.xml'")
    run(device, "input tap 10 10")
    assert device.state == "home"
    run(device, "input keyevent 4")
    assert device.state == "launcher" and not device.app_running


# -- validation errors are located ------------------------------------------------------------------------------
GOOD_HEAD = """\
version: 1
name: t
initial: a
states:
  a:
    image: "#000000"
"""


@pytest.mark.parametrize(("tail", "expected"), [
    ("    taps: [{rect: [0, 0, 10, 10], to: nowhere}]\n",
     r"scenario\.yaml:7:39: states\.a\.taps\[0\]\.to: unknown state 'nowhere'"),
    ("    after: {ms: 10, to: b}\n", r"scenario\.yaml:7:25: states\.a\.after\.to: unknown state 'b'"),
    ("    keys: {KEYCODE_BAKC: a}\n", r":7:12: states\.a\.keys\.KEYCODE_BAKC: unknown key 'KEYCODE_BAKC'"),
    ("    requires_file: {path: /x, else: gone}\n", r":7:37: states\.a\.requires_file\.else: unknown state 'gone'"),
    ("    colour: red\n", r":7:5: states\.a\.colour: unknown key"),
    ("    taps: [{rect: [10, 0, 5, 10], to: a}]\n", r":7:19: states\.a\.taps\[0\]\.rect: .*empty region"),
    ("    after: {ms: -1, to: a}\n", r":7:17: states\.a\.after\.ms: Input should be greater than or equal to 0"),
])
def test_state_errors_are_located(tmp_path: Path, tail: str, expected: str) -> None:
    path = _write(tmp_path, GOOD_HEAD + tail)
    with pytest.raises(ScenarioError, match=expected) as info:
        load_scenario(path)
    assert info.value.file == str(path.resolve()) and info.value.line == 7


@pytest.mark.parametrize(("image", "expected"), [
    ("missing.png", r":6:12: states\.a\.image: image file missing\.png not found"),
    ('"#12345"', r":6:12: states\.a\.image: bad colour '#12345'"),
    ("state:zz", r":6:12: states\.a\.image: unknown state 'zz'"),
    ("state:a", r":6:12: states\.a\.image: image 'state:' references form a cycle: a → a"),
    ("small.png", r":6:12: states\.a\.image: small\.png is 10×10, the screen is 540×960"),
    ("{base: '#000000', overlays: [{image: small.png, at: [535, 0]}]}",
     r":6:41: states\.a\.image\.overlays\[0\]: small\.png \(10×10 device px at 535,0\) does not fit"),
    ("{base: '#000000', overlays: [{template: OK}]}",
     r":6:52: states\.a\.image\.overlays\[0\]\.template: a template overlay needs the scenario's 'template_set'"),
    ("{base: '#000000', overlays: [{image: small.png, template: OK}]}",
     r"states\.a\.image.*exactly one of 'template' or 'image'"),
    ("notes.txt", r":6:12: states\.a\.image: image file notes\.txt is not a decodable image"),
])
def test_image_errors_are_located(tmp_path: Path, image: str, expected: str) -> None:
    cv2.imwrite(str(tmp_path / "small.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    path = _write(tmp_path, GOOD_HEAD.replace('"#000000"', image))
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(path)


def test_top_level_errors_are_located(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r":3:10: initial: unknown state 'nope'"):
        load_scenario(_write(tmp_path, GOOD_HEAD.replace("initial: a", "initial: nope")))
    with pytest.raises(ScenarioError, match=r":1:10: version: Input should be 1"):
        load_scenario(_write(tmp_path, GOOD_HEAD.replace("version: 1", "version: 2")))
    with pytest.raises(ScenarioError, match=r":1:15: template_set: template set .* not found"):
        load_scenario(_write(tmp_path, "template_set: nowhere.yaml\n" + GOOD_HEAD))
    with pytest.raises(ScenarioError, match=r"template_set: unset environment variable"):
        load_scenario(_write(tmp_path, "template_set: ${EMUFLEET_SURELY_UNSET_VAR}/r.yaml\n" + GOOD_HEAD))
    with pytest.raises(ScenarioError, match=r"YAML: duplicate key 'a'"):
        load_scenario(_write(tmp_path, GOOD_HEAD + "  a:\n    image: '#ffffff'\n"))


def test_dialogs_compile_and_their_errors_are_located(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "d.png"), np.full((100, 200, 3), 200, np.uint8))
    good = GOOD_HEAD + ("dialogs:\n"
                        "  popup: {image: d.png, at: [10, 20], close: {rect: [0, 0, 40, 40], space: device}}\n"
                        "  anr:\n    image: d.png\n    wait: {rect: [0, 0, 10, 10]}\n"
                        "    close_app: {rect: [20, 45, 30, 60]}\n")
    dialogs = load_scenario(_write(tmp_path, good)).dialogs
    popup, anr = dialogs["popup"], dialogs["anr"]
    assert (popup.overlay.x, popup.overlay.y) == (10, 20)
    assert (popup.button_at(39, 39), popup.button_at(40, 0)) == ("close", None)
    close_app = anr.buttons[1].rect  # template space (the default MuMu window) mapped to device px
    assert [b.to for b in anr.buttons] == ["wait", "close_app"] and close_app.x1 > 20
    assert anr.button_at(close_app.x1, close_app.y1) == "close_app"
    with pytest.raises(ScenarioError, match=r":10:5: dialogs\.anr\.close_app: Field required"):
        load_scenario(_write(tmp_path, good.replace("    close_app: {rect: [20, 45, 30, 60]}\n", "")))
    with pytest.raises(ScenarioError, match=r"dialogs\.popup: d\.png \(200×100 device px at 400,20\) does not fit"):
        load_scenario(_write(tmp_path, good.replace("at: [10, 20]", "at: [400, 20]")))


# -- a user's template set, composed in place (issue 3: the seed's templates at their regions) -------------------
SEED_TEMPLATES = seed_assets_dir() / "templates"
PLACED = ("Home", "Complete", "Hourglass", "LevelUp", "CountrySelect2")


@pytest.mark.skipif(not SEED_TEMPLATES.is_dir(), reason="seed assets not available (EMUFLEET_SEED_ASSETS)")
def test_seed_templates_composed_at_their_regions_are_found(tmp_path: Path) -> None:
    from emufleet.vision.seed import write_seed_registry

    registry = write_seed_registry(SEED_TEMPLATES, tmp_path / "registry")
    overlays = "".join(f"        - {{template: {name}}}\n" for name in PLACED)
    path = _write(tmp_path, f"""\
version: 1
name: seed-screen
template_set: registry/{registry.name}
initial: board
states:
  board:
    image:
      base: "#1c2430"
      overlays:
{overlays}        - {{template: Main, at: [20, 60]}}
""")
    scenario = load_scenario(path)
    frame = Renderer(scenario).frame("board").bgr
    templates = TemplateSet.load(registry)
    space = templates.space
    for name in PLACED:
        tpl = templates.get(name)
        assert tpl.region is not None
        result = match(frame, tpl, space=space)
        assert result.found and result.best is not None, name
        expected = space.to_device(tpl.region.x1, tpl.region.y1)
        got = result.best.device_top_left
        assert abs(got[0] - expected[0]) <= 2 and abs(got[1] - expected[1]) <= 2, (name, got, expected)
    main = templates.get("Main")
    result = match(frame, main, space=space, region=space.board)  # placed off its region: search the board
    assert result.found and result.best is not None
    assert abs(result.best.top_left[0] - 20) <= 1 and abs(result.best.top_left[1] - 60) <= 1
