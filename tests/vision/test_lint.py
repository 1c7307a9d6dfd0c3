"""``emufleet templates lint`` and ``calibrate``: on the seed's set and on the real screens (read in place)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.vision import TemplateSet, load_templates
from emufleet.vision.lint import lint, lint_template

from .real_screens import SOURCES, DevSet


def test_seed_lint_flags_flat_and_duplicate_templates_not_textured_ones(seed_set: TemplateSet) -> None:
    findings = lint(seed_set)
    kinds: dict[str, set[str]] = {}
    for f in findings:
        kinds.setdefault(f.template, set()).add(f.kind)
    assert {"low-texture", "needs-region"} <= kinds["ClaimAll"]  # a gradient corner, no region
    assert "low-texture" in kinds["Confirm"] and "needs-region" not in kinds["Confirm"]  # it has a region
    assert "near-duplicate" in kinds["ChooseEevee"]
    assert "Main" not in kinds and "Home" not in kinds


def test_lint_cli_prints_a_summary_and_exits_1_on_findings(seed_templates_dir: Path) -> None:
    result = CliRunner().invoke(app, ["templates", "lint", str(seed_templates_dir)])
    assert result.exit_code == 1, result.output
    summary = result.output.strip().splitlines()[-1]
    assert summary.startswith("236 templates,") and "needs-region" in summary  # the whole seed set


def test_loading_does_not_lint(seed_templates_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    """OK (low-texture, no region) is a lint finding, reported by lint alone: loading says nothing about it."""
    with caplog.at_level(logging.DEBUG, logger="emufleet"):
        ts = load_templates(seed_templates_dir)
    assert "needs-region" in {f.kind for f in lint_template(ts.get("OK"))}
    assert not [r for r in caplog.records if "OK" in r.getMessage()]


def test_calibrate_finds_the_tablet_layouts_scale_and_stores_it(dev_set: DevSet, tmp_path: Path) -> None:
    """PTCGPB's needles on the 300×400 tablet layout: ≈ 277/295 of their declared scale (pairs.tsv frames)."""
    source = "kevnITG__PTCGPB"
    space = dict(SOURCES[source]["coordinate_space"])
    space.update(height=space["title_bar"] + 369, device_width=300, device_height=400)  # square px on 300×400
    registry = tmp_path / "registry.yaml"
    entries = [{"name": p.stem, "path": p.name} for p in sorted((dev_set.root / "needles").iterdir())
               if p.name.startswith(source)]
    registry.write_text(f"version: 1\ncoordinate_space: {yaml.safe_dump(space, default_flow_style=True)}"
                        f"images: {dev_set.root / 'needles'}\n" + yaml.safe_dump({"templates": entries}))
    screen = dev_set.root / "screens" / "saimukzi__ptcgp-gacha-loop__s11-hourglass-01_1737809341.png"
    result = CliRunner().invoke(app, ["templates", "calibrate", str(screen), "--templates", str(registry)])
    assert result.exit_code == 0, result.output
    scale = TemplateSet.load(registry).get("kevnITG__PTCGPB__Tos").scale
    # 15-px needles pin the scale loosely (their scores are flat over ±4 %): the drift, not its third digit.
    assert 0.86 <= scale <= 0.96 and abs(scale - 277 / 295) <= 0.07, result.output
    assert f"scale: {scale:g}" in registry.read_text()


def test_low_texture_rule_is_data_overridable_per_template(seed_templates_dir: Path) -> None:
    import numpy as np

    from emufleet.vision import CoordinateSpace, match, synth

    space = CoordinateSpace()
    images = seed_templates_dir / "images"
    doc = {"templates": [{"name": "OK", "path": "ui/OK.png"},
                         {"name": "OKsure", "path": "ui/OK.png", "low_texture": False}]}
    ts = TemplateSet.from_data([(seed_templates_dir / "overrides.yaml", doc)], images=images)
    frame = space.space_to_frame(synth.plain_window(np.random.default_rng(4), space))
    synth.paste_template(frame, ts.get("OK"), (120, 300), space)
    assert not match(frame, ts.get("OK"), space=space).found  # measured low-texture, no region
    sure = match(frame, ts.get("OKsure"), space=space)
    assert sure.best is not None and sure.best.top_left == (120, 300)
