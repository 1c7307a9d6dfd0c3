"""The demo game's committed art, template set and scenario are reproducible and consistent with each other.

Ground truth comes from the generator (`emufleet.sim.art`: where each element is drawn); the committed files are
read the way users' files are (PyYAML + ``cv2.imread``), so a hand edit or a stale file fails here. Templates are
checked with plain ``cv2.matchTemplate(TM_CCOEFF_NORMED)`` inside each registry region and with the production
matcher (``emufleet.vision.match``, its defaults); the demo is played through the simulator's state machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

if not hasattr(cv2, "FontFace"):  # pragma: no cover - the generator draws text with OpenCV 5's font engine
    pytest.skip(f"the demo art generator needs OpenCV >= 5 (installed: {cv2.__version__})", allow_module_level=True)

from emufleet.settings import GameSettings  # noqa: E402
from emufleet.sim import art  # noqa: E402
from emufleet.sim.render import Renderer  # noqa: E402
from emufleet.sim.scenario import load_scenario  # noqa: E402
from emufleet.sim.screen import ScreenMachine  # noqa: E402
from emufleet.vision import Screen, TemplateSet, match  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
REGISTRY = REPO / art.TEMPLATE_DIR / "registry.yaml"
SCENARIO = REPO / art.SCENARIO_DIR / "scenario.yaml"
FP_MARGIN = 0.2         # a template scores at least this much below its threshold where it is not shown
W, H = art.WINDOW_SIZE
DW, DH = art.DEVICE_SIZE


@pytest.fixture(scope="module")
def states() -> dict[str, art.Canvas]:
    return art.render_states()


@pytest.fixture(scope="module")
def shown(states: dict[str, art.Canvas]) -> dict[str, art.Canvas]:
    """Every state, and the fault dialogs over a few of them (``popup@home_ready`` …)."""
    return {**states, **art.render_dialog_screens(states)}


@pytest.fixture(scope="module")
def windows(shown: dict[str, art.Canvas]) -> dict[str, np.ndarray]:
    return {name: art.window_image(canvas.image) for name, canvas in shown.items()}


@pytest.fixture(scope="module")
def screens(shown: dict[str, art.Canvas]) -> dict[str, Screen]:
    return {name: Screen(canvas.image, art.SPACE) for name, canvas in shown.items()}


@pytest.fixture(scope="module")
def registry() -> dict[str, Any]:
    return yaml.safe_load(REGISTRY.read_text())


@pytest.fixture(scope="module")
def scenario() -> dict[str, Any]:
    return yaml.safe_load(SCENARIO.read_text())


def _templates(registry: dict[str, Any]) -> dict[str, tuple[dict[str, Any], np.ndarray]]:
    folder = REGISTRY.parent / registry["images"]
    return {t["name"]: (t, cv2.imread(str(folder / t["path"]), cv2.IMREAD_COLOR)) for t in registry["templates"]}


def _best(window: np.ndarray, tpl: np.ndarray, region: dict[str, int]) -> tuple[float, tuple[int, int]]:
    """Best score and its window-px top-left inside ``region``."""
    crop = window[region["y1"]:region["y2"], region["x1"]:region["x2"]]
    _, score, _, (x, y) = cv2.minMaxLoc(cv2.matchTemplate(crop, tpl, cv2.TM_CCOEFF_NORMED))
    return score, (region["x1"] + x, region["y1"] + y)


def test_regeneration_is_byte_identical(tmp_path: Path) -> None:
    written = {p.relative_to(tmp_path) for p in art.write(tmp_path)}
    committed = {p.relative_to(REPO) for d in (art.SCENARIO_DIR, art.TEMPLATE_DIR) for p in (REPO / d).rglob("*")
                 if p.is_file()}
    assert written == committed, "generated and committed files differ: run `python -m emufleet.sim.art`"
    for rel in sorted(written):
        a, b = (tmp_path / rel).read_bytes(), (REPO / rel).read_bytes()
        if rel.suffix == ".png" and a != b:
            same_pixels = np.array_equal(cv2.imdecode(np.frombuffer(a, np.uint8), cv2.IMREAD_UNCHANGED),
                                         cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_UNCHANGED))
            hint = "same pixels, other PNG encoder bytes (OpenCV/zlib upgrade?)" if same_pixels else "pixels differ"
            pytest.fail(f"{rel}: {hint}; regenerate with `python -m emufleet.sim.art` and commit")
        assert a == b, f"{rel} differs from the generator's output: run `python -m emufleet.sim.art`"


def test_registry_header_and_template_sizes(registry: dict[str, Any]) -> None:
    assert registry["version"] == 1
    assert registry["coordinate_space"] == {"width": W, "height": H, "title_bar": art.TITLE_BAR,
                                            "device_width": DW, "device_height": DH}
    templates = _templates(registry)
    assert list(templates) == list(art.TEMPLATES)
    for name, (entry, image) in templates.items():
        assert set(entry) == {"name", "path", "threshold", "region", "preload"}
        assert image is not None and image.ndim == 3, name
        h, w = image.shape[:2]
        assert 15 <= w <= 70 and 10 <= h, (name, w, h)
        g = entry["region"]
        assert 0 <= g["x1"] and g["x2"] <= W and art.TITLE_BAR <= g["y1"] and g["y2"] <= H, name
        assert g["x2"] - g["x1"] >= w + 2 and g["y2"] - g["y1"] >= h + 2, f"{name}: region barely fits"


@pytest.mark.parametrize("name", list(art.TEMPLATES))
def test_template_found_in_its_region_only_where_shown(name: str, registry: dict[str, Any],
                                                       shown: dict[str, art.Canvas],
                                                       windows: dict[str, np.ndarray]) -> None:
    entry, tpl = _templates(registry)[name]
    showing = [s for s, canvas in shown.items() if name in canvas.marks]
    assert showing, f"{name} is drawn on no screen"
    expected = art.window_rect(shown[showing[0]].marks[name])
    for state, window in windows.items():
        score, top_left = _best(window, tpl, entry["region"])
        if state in showing:
            assert score >= entry["threshold"], (state, score)
            assert top_left == (expected.x1, expected.y1), state
        else:
            assert score <= entry["threshold"] - FP_MARGIN, (state, score)


@pytest.mark.parametrize("name", list(art.TEMPLATES))
def test_production_matcher_finds_each_template_only_where_shown(name: str, shown: dict[str, art.Canvas],
                                                                 screens: dict[str, Screen]) -> None:
    """``emufleet.vision.match`` with its defaults: found at the drawn place exactly on the screens showing the
    template, ``FP_MARGIN`` below the threshold elsewhere; and on the whole board nothing else reaches it."""
    templates = TemplateSet.load(REGISTRY)
    tpl = templates.get(name)
    for state, screen in screens.items():
        drawn = shown[state].marks.get(name)
        result = match(screen, tpl, space=templates.space)
        if drawn is None:
            assert not result.found and result.score <= tpl.threshold - FP_MARGIN, (state, result.score)
        else:
            assert result.best is not None, (state, result.score)
            x, y = result.best.device_center
            assert drawn.x1 <= x < drawn.x2 and drawn.y1 <= y < drawn.y2, (state, result.best)
        board = match(screen, tpl, space=templates.space, region=templates.space.board, scale_tolerance=0.0)
        places = {art.window_rect(drawn).as_tuple()[:2]} if drawn else set()
        elsewhere = [m for m in board.candidates if min((abs(m.top_left[0] - px) + abs(m.top_left[1] - py)
                                                         for px, py in places), default=99) > 2]
        assert not elsewhere, (state, elsewhere)


def test_simulator_renders_the_drawn_screens(states: dict[str, art.Canvas]) -> None:
    scenario = load_scenario("demo")
    assert scenario.path == SCENARIO and list(scenario.states) == list(art.STATES)
    assert (scenario.initial, scenario.on_app_start, scenario.on_app_stop) == ("launcher", "splash", "launcher")
    renderer = Renderer(scenario)
    for name, canvas in states.items():
        assert np.array_equal(renderer.frame(name).bgr, canvas.image), name
    assert list(scenario.dialogs) == list(art.DIALOGS)
    for name, canvas in art.render_dialog_screens(states).items():
        dialog, base = name.split("@")
        assert np.array_equal(renderer.frame(base, (dialog,)).bgr, canvas.image), name


def test_scenario_transitions_follow_the_spec(scenario: dict[str, Any]) -> None:
    assert scenario["template_set"] == "../../../../templates/registry.yaml"
    for name, spec in art.STATES.items():
        raw = scenario["states"][name]
        assert [t["to"] for t in raw.get("taps", [])] == [to for _, to in spec.taps], name
        after = (raw["after"]["ms"], raw["after"]["to"]) if "after" in raw else None
        assert after == spec.after, name
        assert raw.get("keys", {}) == dict(spec.keys), name
        if spec.requires_account:
            assert raw["requires_file"] == {"path": GameSettings().prefs_path, "else": spec.requires_account}


def test_taps_land_on_the_buttons_they_press(states: dict[str, art.Canvas], registry: dict[str, Any],
                                             windows: dict[str, np.ndarray]) -> None:
    """Each tap rect, as the simulator maps it to device px, lies on its drawn button, which matching finds."""
    templates = _templates(registry)
    scenario = load_scenario("demo")
    for name, spec in art.STATES.items():
        for rule, (target, _) in zip(scenario.states[name].taps, spec.taps, strict=True):
            if target == art.BOARD:
                assert rule.rect.as_tuple() == (0, 0, DW, DH)
                continue
            button, tap = states[name].marks[target], rule.rect
            assert button.x1 <= tap.x1 < tap.x2 <= button.x2, (name, target, rule, button)
            assert button.y1 <= tap.y1 < tap.y2 <= button.y2, (name, target, rule, button)
            entry, tpl = templates[target]
            score, top_left = _best(windows[name], tpl, entry["region"])
            centre = art.SPACE.device_point(top_left[0] + tpl.shape[1] / 2, top_left[1] + tpl.shape[0] / 2)
            assert score >= entry["threshold"] and rule.contains(*centre), (name, target, centre, rule)
    for dialog, buttons in art.DIALOG_BUTTONS.items():
        screen = f"{dialog}@{art.DIALOG_BASES[0]}"
        for button, target in buttons.items():
            rule = next(b for b in scenario.dialogs[dialog].buttons if b.to == button)
            tap = rule.rect
            drawn = art.render_dialog_screens(states)[screen].marks[target]
            assert drawn.x1 <= tap.x1 < tap.x2 <= drawn.x2 and drawn.y1 <= tap.y1 < tap.y2 <= drawn.y2, button
            entry, tpl = templates[target]
            score, top_left = _best(windows[screen], tpl, entry["region"])
            centre = art.SPACE.device_point(top_left[0] + tpl.shape[1] / 2, top_left[1] + tpl.shape[0] / 2)
            assert score >= entry["threshold"] and rule.contains(*centre), (dialog, button, centre, rule)


def test_docs_table_matches_the_registry(registry: dict[str, Any], states: dict[str, art.Canvas]) -> None:
    """docs/demo-game.md lists every template with its committed size, region, threshold and states."""
    rows = {}
    for line in (REPO / "docs" / "demo-game.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 6:
            rows[cells[0].strip("`")] = cells[1:5]
    expected = {}
    dialogs = {tpl: dialog for dialog, buttons in art.DIALOG_BUTTONS.items() for tpl in buttons.values()}
    dialogs["NotResponding"] = "anr"
    for name, (entry, image) in _templates(registry).items():
        g = entry["region"]
        on = ", ".join(s for s, c in states.items() if name in c.marks) or f"{dialogs[name]} dialog (any screen)"
        expected[name] = [f"{image.shape[1]}×{image.shape[0]}", f"{g['x1']},{g['y1']}–{g['x2']},{g['y2']}",
                          str(entry["threshold"]), on]
    assert rows == expected


# the demo played by template matching alone: (template to tap | None to tap the board | ms to wait, next state)
WALK_GUEST = [("AppIcon", "splash"), (1500, "title"), (None, "welcome"), ("OK", "home"),
              (1000, "home_notice"), ("OK", "home_ready"), ("Missions", "missions"), ("Claim", "missions_claimed"),
              ("OK", "home_ready"), ("Pack", "pack_select"), ("OpenPack", "pack_opening"), (800, "pack_result"),
              ("Next", "home_ready"), ("Menu", "menu"), ("Back", "home_ready"), (8000, "home_error"),
              ("Retry", "home_ready"), ("Pack", "pack_select"), ("Back", "home_ready"), ("Missions", "missions"),
              ("Back", "home_ready")]
WALK_PLAYER = [("AppIcon", "splash"), (1500, "title"), (5000, "title_no_response"), ("OK", "title"),
               (None, "login"), (300, "home"), (1000, "home_notice"), ("OK", "home_ready")]


@pytest.mark.parametrize(("walk", "has_account"), [(WALK_GUEST, False), (WALK_PLAYER, True)], ids=["guest", "player"])
def test_demo_is_playable_by_template_matching(walk: list[tuple[Any, str]], has_account: bool) -> None:
    """The simulator's state machine, driven by taps at the production matcher's match centres."""
    templates = TemplateSet.load(REGISTRY)
    scenario = load_scenario("demo")
    renderer = Renderer(scenario)
    now = [0.0]
    machine = ScreenMachine(scenario, lambda path: has_account and path == GameSettings().prefs_path,
                            lambda *_: None, clock=lambda: now[0])
    for action, expected in walk:
        if isinstance(action, int):
            now[0] += action / 1000
        elif action is None:
            machine.tap(DW // 2, DH // 2)
        else:
            result = match(renderer.frame(machine.current()).bgr, templates.get(action), space=templates.space)
            assert result.found and result.best is not None, (machine.current(), action)
            machine.tap(*result.best.device_center)
        assert machine.current() == expected, (action, expected)
