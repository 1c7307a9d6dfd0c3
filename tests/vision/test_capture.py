"""Template capture from a simulated device (real adb server): cut in the set's space, judged, saved into a copy of
the registry with one line added, then found by ``emufleet templates match``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import pytest
from typer.testing import CliRunner

from emufleet.cli import app

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_template_captured_from_the_device_is_saved_and_then_found(simulator: Callable[..., Any],
                                                                     tmp_path: Path) -> None:
    from emufleet.device import connect

    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    registry = templates / "registry.yaml"
    before = registry.read_text()
    # the home screen's "Missions" button, in device px (as the live view's full view shows them)
    args = ["templates", "capture", "--serial", inst.serial, "--box", "200,846,344,934", "--name", "MissionsBtn",
            "--set", str(templates), "--margin", "8"]
    judged = CliRunner().invoke(app, [*args, "--dry-run"])
    assert judged.exit_code == 0, judged.output
    assert "verdict current screen: found at (" in judged.stdout and "score 1.000" in judged.stdout
    assert "warning overlapping: its region overlaps Missions's" in judged.stdout, judged.stdout
    assert registry.read_text() == before, "a dry run saves nothing"

    saved = CliRunner().invoke(app, args)
    assert saved.exit_code == 0, saved.output
    after = registry.read_text()
    assert after.startswith(before), "the rest of the registry is untouched"
    added = after[len(before):].splitlines()
    assert added == ["  - {name: MissionsBtn, path: MissionsBtn.png, threshold: 0.8, "
                     "region: {x1: 94, y1: 467, x2: 185, y2: 529}}"], added
    assert (templates / "images" / "MissionsBtn.png").is_file()
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output

    shot = tmp_path / "home.png"
    cv2.imwrite(str(shot), connect(inst.serial).screenshot())
    found = CliRunner().invoke(app, ["templates", "match", str(shot), "--templates", str(registry),
                                     "-t", "MissionsBtn", "--out", str(tmp_path / "overlay.png")])
    assert found.exit_code == 0, found.output
    assert "MissionsBtn" in found.stdout and " yes " in found.stdout


def test_a_box_outside_the_board_is_a_located_error(simulator: Callable[..., Any], tmp_path: Path) -> None:
    inst = simulator(instances=1, scenario="demo").instances[0]
    result = CliRunner().invoke(app, ["templates", "capture", "--serial", inst.serial, "--box", "0,0,50,40",
                                      "--units", "template", "--name", "X", "--set", str(REPO / "templates")])
    assert result.exit_code == 2 and "box:" in result.output and "title" not in result.stdout
