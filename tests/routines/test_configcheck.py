"""Launch-time config check: the seed's ``missing_variable`` / ``invalid_config``, sub-routines included."""

from __future__ import annotations

from pathlib import Path

import pytest

from emufleet.errors import RoutineError
from emufleet.routines import RoutineRegistry
from emufleet.routines.configcheck import check_config

NEEDS_TARGET = """version: 1
config:
  - {name: target, type: text, required: true}
  - {name: mode, type: dropdown, options: [fast, slow]}
steps:
  - {action: Sleep, duration: 1ms}
"""


def registry(tmp_path: Path, **files: str) -> RoutineRegistry:
    for key, text in files.items():
        path = tmp_path / f"{key}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return RoutineRegistry.load(tmp_path)


def test_a_required_param_without_value_is_a_located_missing_variable(tmp_path: Path) -> None:
    reg = registry(tmp_path, needs=NEEDS_TARGET)
    (err,) = check_config(reg, "needs", {})
    assert err.line == 3 and err.file == str(tmp_path / "needs.yaml") and err.field == "config[0].name"
    assert err.message.startswith("missing_variable: 'target' is required and has no default, and the group")
    assert "--set target=" in err.message
    assert check_config(reg, "needs", {"target": "x", "mode": "fast"}) == []
    (bad,) = check_config(reg, "needs", {"target": "x", "mode": "turbo"})
    assert bad.message.startswith("invalid_config: mode: 'turbo' is not one of") and bad.line == 4


def test_sub_routines_need_their_values_from_run_routine(tmp_path: Path) -> None:
    reg = registry(tmp_path, needs=NEEDS_TARGET, caller="""version: 1
steps:
  - {action: RunRoutine, routine: needs, config: {target: "${where}"}}
  - action: Repeat
    iterations: 1
    actions:
      - {action: RunRoutine, routine: needs}
""")
    (err,) = check_config(reg, "caller", {"target": "given to the caller only"})
    assert "RunRoutine at caller:steps[1].actions[0] gives it no value" in err.message
    assert err.file == str(tmp_path / "needs.yaml")
    assert check_config(reg, "caller", {}, group_config={"target": "t"}) == []  # a group-wide value reaches it
    with pytest.raises(RoutineError):
        check_config(reg, "nope", {})


def test_the_shipped_routines_launch_with_their_defaults() -> None:
    reg = RoutineRegistry.load(Path(__file__).resolve().parents[2] / "routines")
    for key in reg.keys():
        assert check_config(reg, key, {}) == [], key
