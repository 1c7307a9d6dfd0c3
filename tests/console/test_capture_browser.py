"""Template capture in headless Chromium: from the live wall's full view, a screen is frozen, a rectangle dragged on
it, the cut judged (found on that screen) and saved into the project's template set, where the matcher then finds
it on the device's screen; a snapshot unknown to the console is a 404."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.fleet import REPO, FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

BOX = (200, 846, 344, 934)  # device px: the home screen's missions button (as tests/vision/test_capture.py)


def test_capture_from_the_live_view_saves_a_template_the_matcher_finds(
        page: Any, served: Any, shots: Any, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    from emufleet.device import connect
    from emufleet.vision import Screen, TemplateSet, match

    templates = fleet_home.root / "templates"
    templates.unlink()  # the shipped set is a symlink there: save into a copy
    shutil.copytree(REPO / "templates", templates)
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    page.goto("/instances")
    tile = f'[data-screen$="/{inst.serial}"]'
    page.locator(f"{tile} img").wait_for()
    page.click(tile)
    page.locator("#wall-full[open]").wait_for()
    page.click("[data-capture-open]")
    page.locator("#capture[open]").wait_for()
    page.wait_for_function("document.getElementById('capture-img').naturalWidth === 540")
    view = page.locator("#capture-img").bounding_box()
    k = view["width"] / 540

    def at(x: int, y: int) -> tuple[float, float]:
        return view["x"] + (x + 0.5) * k, view["y"] + (y + 0.5) * k

    page.mouse.move(*at(BOX[0], BOX[1]))
    page.mouse.down()
    page.mouse.move(*at(BOX[2], BOX[3]), steps=4)
    page.mouse.up()
    drawn = [int(v) for v in page.locator("[data-capture-box]").get_attribute("data-box").split(",")]
    assert all(abs(a - b) <= 2 for a, b in zip(drawn, BOX, strict=True)), drawn
    page.fill("#capture-form [name=name]", "MissionsBtn")
    page.click("[data-capture-check]")
    page.locator('#capture-result [data-verdict="found"]').wait_for()
    assert "current screen: found" in page.locator("#capture-result").inner_text()
    assert not (templates / "MissionsBtn.png").exists(), "Check saves nothing"
    page.click("[data-capture-save]")
    page.locator("#capture-result [data-saved]").wait_for()
    shots(page, "capture")

    entries = yaml.safe_load((templates / "registry.yaml").read_text())["templates"]
    assert [e["name"] for e in entries].count("MissionsBtn") == 1
    assert (REPO / "templates" / "registry.yaml").read_text() != (templates / "registry.yaml").read_text()
    saved = TemplateSet.load(templates / "registry.yaml")
    found = match(Screen(connect(inst.serial).screenshot(), saved.space), saved.get("MissionsBtn"),
                  space=saved.space)
    assert found.found and found.best is not None

    reply = page.request.post("/api/capture", data={"snapshot": "nope", "box": [0, 0, 10, 10], "name": "X"})
    assert reply.status == 404
