"""Plugins through entry points, and the OCR library's lazy import, in one fresh Python process.

The example package under ``tests/plugins/example`` is installed into a temporary folder (a ``.dist-info`` with its
``entry_points.txt``, as pip writes one: no network, no build backend needed); a process with that folder on
``sys.path`` runs a routine using its action and its recognizer — a routine that reads no text, after which the OCR
library must not have been imported — then a routine that reads a number, after which it must have been."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "plugins" / "example"


def install(target: Path) -> None:
    """Install the example like ``pip install --target``: its package, and ``<name>-<version>.dist-info`` with
    METADATA and the entry points of its ``pyproject.toml``."""
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    shutil.copytree(EXAMPLE / "emufleet_example", target / "emufleet_example")
    info = target / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    lines = []
    for group, points in project["entry-points"].items():
        lines += [f"[{group}]", *(f"{name} = {value}" for name, value in points.items()), ""]
    (info / "entry_points.txt").write_text("\n".join(lines))


SCRIPT = r'''
import json, sys
import numpy as np
from emufleet.plugins import plugin_errors
from emufleet.routines import BotContext, RoutineRegistry, RoutineRun
from emufleet.routines.grammar import ACTIONS, CONDITION_TYPES
from emufleet.vision import TemplateSet

import cv2

class Screen:  # the device interface as far as these steps use it: a grey 90 screen, or a picture
    serial = "stand-in"
    frame = np.full((960, 540, 3), 90, np.uint8)
    def screenshot(self):
        return self.frame

root, templates, picture = sys.argv[1], sys.argv[2], sys.argv[3]
ts = TemplateSet.load(templates)
reg = RoutineRegistry.load(root, ts)
device = Screen()
ctx = BotContext(device, ts, reg, variables={})
RoutineRun(reg.get("uses_plugin"), ctx, {}).run()
ocr_before = sorted(m for m in ("rapidocr", "onnxruntime") if m in sys.modules)
device.frame = cv2.imread(picture, cv2.IMREAD_COLOR)
RoutineRun(reg.get("reads"), ctx, {}).run()
ocr_after = sorted(m for m in ("rapidocr", "onnxruntime") if m in sys.modules)
invalid = {k: [str(e) for e in v] for k, v in reg.invalid().items()}
print(json.dumps({"ocr_before": ocr_before, "ocr_after": ocr_after, "invalid": invalid,
                  "vars": ctx.variables.snapshot(), "action": "storebrightness" in ACTIONS,
                  "errors": [str(e) for e in plugin_errors()], "conditions": len(CONDITION_TYPES)}))
'''

ROUTINE = """
steps:
  - {action: StoreBrightness, region: {x1: 0, y1: 45, x2: 277, y2: 534}, save_to: level}
  - action: If
    condition: {type: Recognized, recognizer: brightness, params: {min_level: 200}}
    then: [{action: SetVariable, name: bright, value: "yes"}]
    else: [{action: SetVariable, name: bright, value: "no"}]
  - action: If
    condition: {type: Recognized, recognizer: brightness, params: {min_level: 80}}
    then: [{action: SetVariable, name: dim_ok, value: "yes"}]
"""


def test_a_plugin_runs_in_a_routine_and_text_free_routines_never_import_ocr(tmp_path: Path, template_dir: Path
                                                                           ) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    routines = tmp_path / "routines"
    routines.mkdir()
    (routines / "uses_plugin.yaml").write_text(ROUTINE)
    (routines / "reads.yaml").write_text(  # the demo home screen's shinedust counter
        "steps:\n  - {action: ReadNumber, region: {x1: 169, y1: 59, x2: 207, y2: 78}, save_to: dust}\n")
    (routines / "bad_params.yaml").write_text(
        "steps:\n  - action: If\n    condition: {type: Recognized, recognizer: brightness, params: {level: 3}}\n"
        "    then: [{action: Sleep, duration: 1}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    home = REPO / "emufleet" / "sim" / "scenarios" / "demo" / "screens" / "home.png"
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(routines), str(template_dir / "registry.yaml"), str(home)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.splitlines()[-1])
    assert result["action"]
    # the stand-in screen is grey 90 everywhere: the action read it, the recognizer judged it
    assert result["vars"]["level"] == "90"
    assert (result["vars"]["bright"], result["vars"]["dim_ok"]) == ("no", "yes")
    # a plugin recognizer's params are checked at load, located like any other field
    (bad,) = result["invalid"]["bad_params"]
    assert "bad_params.yaml:3:" in bad and "unexpected keyword argument 'level'" in bad
    # the broken entry point is reported and skipped; the built-ins and the good plugin still load
    assert len(result["errors"]) == 1 and "emufleet.actions:broken" in result["errors"][0]
    assert "cannot be imported" in result["errors"][0]
    # a process whose routines read no text never imports the OCR library; the first read does
    assert result["ocr_before"] == [], "a routine without text steps imported the OCR library"
    assert result["ocr_after"] == ["onnxruntime", "rapidocr"] and result["vars"]["dust"] == "1250"


def test_without_plugins_nothing_extra_is_registered() -> None:
    from emufleet.plugins import plugin_errors
    from emufleet.routines.grammar import ACTIONS, CONDITION_TYPES
    from emufleet.vision.recognizers import RECOGNIZERS, get_recognizer

    assert "storebrightness" not in ACTIONS and "recognized" in CONDITION_TYPES
    with pytest.raises(Exception, match="unknown recognizer 'brightness'"):
        get_recognizer("brightness")
    assert {"template", "ocr", "colour", "features"} <= set(RECOGNIZERS)
    assert plugin_errors() == ()
