"""``emufleet templates match``: scores printed, overlay written, exit status."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.vision import CoordinateSpace, TemplateSet, synth

SPACE = CoordinateSpace()


@pytest.fixture
def seed_screen(seed_templates_dir: Path, tmp_path: Path) -> Path:
    """A device screenshot with the seed's OK, Claim and Main drawn on it."""
    ts = TemplateSet.load(seed_templates_dir)
    frame = SPACE.space_to_frame(synth.plain_window(np.random.default_rng(4), SPACE))
    synth.paste_template(frame, ts.get("Main"), (125, 320), SPACE)
    synth.paste_template(frame, ts.get("OK"), (120, 300), SPACE)
    synth.paste_template(frame, ts.get("Claim"), (40, 200), SPACE)
    path = tmp_path / "screen.png"
    assert cv2.imwrite(str(path), frame)
    return path


def test_match_prints_scores_and_writes_an_overlay(seed_templates_dir: Path, seed_screen: Path) -> None:
    out = seed_screen.with_name("overlay.png")
    result = CliRunner().invoke(app, ["templates", "match", str(seed_screen), "--templates",
                                      str(seed_templates_dir), "-t", "Main", "-t", "Claim", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split() for line in result.output.splitlines() if line}
    assert lines["Main"][1:4] == ["1.000", "0.8", "yes"]
    assert lines["Claim"][3] == "yes"
    # OK is low-texture (a light strip over white) and has no region: over the whole board it is never reported.
    flat = CliRunner().invoke(app, ["templates", "match", str(seed_screen), "--templates",
                                    str(seed_templates_dir), "-t", "OK", "--out", str(out)])
    assert flat.exit_code == 1 and "no" in next(line for line in flat.output.splitlines() if line.startswith("OK"))
    overlay = cv2.imread(str(out))
    assert overlay.shape == (960, 540, 3)
    assert (overlay != cv2.imread(str(seed_screen))).any()  # boxes were drawn


def test_missing_template_exits_1_and_bad_input_exits_2(seed_templates_dir: Path, seed_screen: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["templates", "match", str(seed_screen), "--templates", str(seed_templates_dir),
                                  "-t", "Skip"])
    assert missing.exit_code == 1
    assert "no" in next(line for line in missing.output.splitlines() if line.startswith("Skip"))
    assert seed_screen.with_name("screen.matches.png").is_file()
    unknown = runner.invoke(app, ["templates", "match", str(seed_screen), "--templates", str(seed_templates_dir),
                                  "-t", "Nope"])
    assert unknown.exit_code == 2 and "'Nope': not registered" in unknown.output
    broken = seed_screen.with_name("broken.png")
    broken.write_bytes(b"no image")
    assert runner.invoke(app, ["templates", "match", str(broken), "--templates", str(seed_templates_dir)]
                         ).exit_code == 2


def test_window_sized_screenshots_are_mapped(seed_templates_dir: Path, tmp_path: Path) -> None:
    ts = TemplateSet.load(seed_templates_dir)
    window = synth.plain_window(np.random.default_rng(8), SPACE)
    synth.paste(window, ts.get("Main").image, (125, 320))
    path = tmp_path / "window.png"
    assert cv2.imwrite(str(path), window)
    result = CliRunner().invoke(app, ["templates", "match", str(path), "--templates", str(seed_templates_dir),
                                      "-t", "Main"])
    assert result.exit_code == 0, result.output
    assert "window-sized" in result.output
