"""Plugins through entry points: the example package under ``tests/plugins/example`` is installed into a temporary
folder (a ``.dist-info`` with its ``entry_points.txt``, as pip writes one: no network, no build backend needed) and
a fresh Python process with that folder on ``sys.path`` runs a routine using its action and its recognizer."""

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

class Grey:  # the device interface as far as these steps use it: a grey 90 screen
    serial = "stand-in"
    def screenshot(self):
        return np.full((960, 540, 3), 90, np.uint8)

root, templates = sys.argv[1], sys.argv[2]
ts = TemplateSet.load(templates)
reg = RoutineRegistry.load(root, ts)
device = Grey()
ctx = BotContext(device, ts, reg, variables={})
RoutineRun(reg.get("uses_plugin"), ctx, {}).run()
print(json.dumps({"invalid": {k: [str(e) for e in v] for k, v in reg.invalid().items()},
                  "vars": ctx.variables.snapshot(), "action": "storebrightness" in ACTIONS,
                  "errors": [str(e) for e in plugin_errors()], "builtins": len(ACTIONS), "conds": len(CONDITION_TYPES)}))
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


def test_the_example_plugin_runs_in_a_routine(tmp_path: Path, template_dir: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    routines = tmp_path / "routines"
    routines.mkdir()
    (routines / "uses_plugin.yaml").write_text(ROUTINE)
    (routines / "bad_params.yaml").write_text(
        "steps:\n  - action: If\n    condition: {type: Recognized, recognizer: brightness, params: {level: 3}}\n"
        "    then: [{action: Sleep, duration: 1}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(routines), str(template_dir / "registry.yaml")],
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


def test_without_plugins_nothing_extra_is_registered() -> None:
    from emufleet.plugins import plugin_errors
    from emufleet.routines.grammar import ACTIONS, CONDITION_TYPES
    from emufleet.vision.recognizers import RECOGNIZERS, get_recognizer

    assert "storebrightness" not in ACTIONS and "recognized" in CONDITION_TYPES
    with pytest.raises(Exception, match="unknown recognizer 'brightness'"):
        get_recognizer("brightness")
    assert {"template", "ocr", "colour", "features"} <= set(RECOGNIZERS)
    assert plugin_errors() == ()
