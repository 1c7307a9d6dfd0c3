"""The project's demo template set on the simulator's demo screens (docs/demo-game.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emufleet.settings import data_dir
from emufleet.vision import Screen, TemplateSet, match

REGISTRY = data_dir("templates") / "registry.yaml"
pytestmark = pytest.mark.skipif(not REGISTRY.is_file(), reason="the demo template set is not drawn yet")

NAMES = {"AppIcon", "Splash", "Title", "TapToStart", "Welcome", "Main", "Menu", "Missions", "Pack", "Back", "Claim",
         "Complete", "OK", "Error", "NoResponse", "Retry", "OpenPack", "Next",
         "Close", "NotResponding", "CloseApp", "Wait"}  # the simulator's fault dialogs (popup_storm, anr)
HOME = {"Main", "Pack", "Missions", "Menu"}
EXPECTED = {  # state → exactly the templates visible on it (docs/demo-game.md; popups overlay their base)
    "launcher": {"AppIcon"},
    "splash": {"Splash"},
    "title": {"Title", "TapToStart"},
    "title_no_response": {"Title", "TapToStart", "NoResponse", "OK"},
    "welcome": {"Welcome", "OK"},
    "home": HOME,
    "home_notice": HOME | {"OK"},
    "home_ready": HOME,
    "home_error": HOME | {"Error", "Retry"},
    "menu": {"Back"},
    "missions": {"Back", "Claim"},
    "missions_claimed": {"Back", "Claim", "Complete", "OK"},
    "pack_select": {"Back", "OpenPack"},
    "pack_opening": set(),
    "pack_result": {"Next"},
}
ACTIVE = {  # state → the buttons that react there (a popup disables what lies under it)
    "launcher": {"AppIcon"}, "title_no_response": {"OK"}, "welcome": {"OK"}, "home_notice": {"OK"},
    "home_ready": {"Pack", "Missions", "Menu"}, "home_error": {"Retry"}, "menu": {"Back"},
    "missions": {"Claim", "Back"}, "missions_claimed": {"OK"}, "pack_select": {"OpenPack", "Back"},
    "pack_result": {"Next"},
}


@pytest.fixture(scope="module")
def demo_set() -> TemplateSet:
    return TemplateSet.load(REGISTRY)


@pytest.fixture(scope="module")
def scenario() -> Any:
    sim = pytest.importorskip("emufleet.sim")
    return sim.load_scenario("demo")


def test_demo_set_loads(demo_set: TemplateSet) -> None:
    assert set(demo_set.names) == NAMES
    assert all(t.region is not None for t in demo_set)
    assert (demo_set.space.width, demo_set.space.title_bar, demo_set.space.device_width) == (277, 45, 540)


@pytest.mark.parametrize("state", sorted(EXPECTED))
def test_each_demo_screen_shows_exactly_its_templates(demo_set: TemplateSet, scenario: Any, state: str) -> None:
    from emufleet.sim.render import Renderer

    screen = Screen(Renderer(scenario).frame(state).bgr, demo_set.space)
    results = {t.name: match(screen, t, space=demo_set.space) for t in demo_set}
    assert {name for name, r in results.items() if r.found} == EXPECTED[state]
    for name in EXPECTED[state]:
        assert results[name].score >= 0.95, f"{state}/{name}: {results[name].score}"
    for name in NAMES - EXPECTED[state]:
        assert results[name].score < 0.7, f"{state}/{name}: {results[name].score}"
    # Every active button is tappable where it was found: its centre lies in one of the state's tap rectangles.
    taps = scenario.states[state].taps
    for name in ACTIVE.get(state, set()):
        best = results[name].best
        assert best is not None
        assert any(tap.contains(*best.device_center) for tap in taps), f"{state}/{name} at {best.device_center}"


def test_recognise_and_tap_through_the_real_simulator(demo_set: TemplateSet, simulator: Callable[..., Any]) -> None:
    """Screenshot over the real adb server, match, tap the match centre: the launcher opens the game."""
    from emufleet.device import Device

    sim = simulator(instances=1, scenario="demo")
    inst = sim.instances[0]
    dev = Device(inst.serial)
    inst.set_state("launcher")
    result = match(dev.screenshot(), demo_set.get("AppIcon"), space=demo_set.space)
    assert result.best is not None and result.best.score >= 0.95
    dev.tap(*result.best.device_center)
    assert inst.state == "splash"
