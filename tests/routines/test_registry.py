"""The registry: keys, cross-file checks, cycles, the seed's example corpus, and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.errors import RoutineError, RoutineValidationError
from emufleet.routines import RoutineRegistry
from emufleet.settings import seed_assets_dir
from emufleet.vision import TemplateSet
from emufleet.vision.seed import build_seed_registry

REPO = Path(__file__).resolve().parents[2]
SEED = seed_assets_dir()
needs_seed = pytest.mark.skipif(not (SEED / "routines").is_dir(), reason=f"seed assets not found at {SEED}")

#: seed file → None (loads) or (line, message fragment) of its first error; compare digest §1.7.
SEED_CORPUS: dict[str, tuple[int, str] | None] = {
    "common_navigation": None,
    "example_routine": None,
    "example_variables": None,
    "example_advanced_conditions": (16, "YAML: expected <block end>"),
    "example_condition_system": (39, "template 'Enemy' is not registered"),
    "example_config": (60, "steps[1].condition.value: '${target_count}': condition values are not interpolated"),
    "example_nested_routine_with_config": (8, "routine 'example_config' is invalid"),
    "example_routine_with_sentry": (23, "template 'continue_button' is not registered"),
    "example_run_routine": (13, "RunRoutine takes routine: <registry key> (routine_name is not a key)"),
    "example_sentry_popup_handler": (8, "template 'close_button' is not registered"),
    "example_sentry_usage": (8, "routine 'optional_popup_dismiss' not found"),
    "examples/app_restart_example": (1, "name is not a top-level key"),
    "sentries/example_error_check": (7, "IfImageFound has no then/else"),
}


@pytest.fixture(scope="module")
def seed_registry() -> RoutineRegistry:
    return RoutineRegistry.load(SEED / "routines", build_seed_registry(SEED / "templates"))


@needs_seed
def test_seed_corpus_is_fully_covered(seed_registry: RoutineRegistry) -> None:
    assert set(seed_registry.keys()) | set(seed_registry.invalid()) == set(SEED_CORPUS)


@needs_seed
@pytest.mark.parametrize("key", sorted(SEED_CORPUS))
def test_seed_example_loads_or_fails_with_its_located_error(seed_registry: RoutineRegistry, key: str) -> None:
    expected = SEED_CORPUS[key]
    if expected is None:
        assert key in seed_registry
        return
    first = seed_registry.invalid()[key][0]
    assert first.file == str(SEED / "routines" / f"{key}.yaml")
    assert first.line == expected[0], str(first)
    assert expected[1] in str(first), str(first)


def test_keys_lookup_and_tags(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c.yml").write_text("tags: [x]\nsteps: []\n")
    (tmp_path / "top.yaml").write_text("routine_name: Top\ntags: [x, y]\n")
    (tmp_path / "bad.yaml").write_text("steps: [{action: Nope}]\n")
    reg = RoutineRegistry.load(tmp_path)
    assert reg.keys() == ["a/b/c", "top"] and list(reg.invalid()) == ["bad"]
    assert reg.get("top.yaml").name == "Top" and reg.get("a/b/c").name == "a/b/c"
    assert [r.key for r in reg.by_tag("y")] == ["top"]
    with pytest.raises(RoutineValidationError, match="unknown action 'Nope'"):
        reg.get("bad")
    with pytest.raises(RoutineError, match="no routine 'ghost'"):
        reg.get("ghost")


def test_cross_file_checks_and_cycles(tmp_path: Path) -> None:
    files = {
        "a": "steps:\n  - {action: RunRoutine, routine: b}\n",
        "b": "sentries:\n  - {routine: c}\n",
        "c": "steps:\n  - {action: Repeat, iterations: 1, actions: [{action: RunRoutine, routine: a}]}\n",
        "self": "steps:\n  - {action: RunRoutine, routine: self}\n",
        "missing": "steps:\n  - {action: RunRoutine, routine: nowhere}\n",
        "uses_missing": "sentries:\n  - {routine: missing}\n",
        "fine": "steps:\n  - {action: RunRoutine, routine: leaf}\n",
        "leaf": "steps: []\n",
    }
    for key, text in files.items():
        (tmp_path / f"{key}.yaml").write_text(text)
    invalid = RoutineRegistry.load(tmp_path).invalid()
    assert sorted(invalid) == ["a", "b", "c", "missing", "self", "uses_missing"]
    assert str(invalid["a"][0]).endswith("a.yaml:2:35: steps[0].routine: reference cycle: a → b → c → a")
    assert "c.yaml:2:77: steps[0].actions[0].routine: reference cycle" in str(invalid["c"][0])
    assert "sentries[0].routine: reference cycle" in str(invalid["b"][0])
    assert "reference cycle: self → self" in str(invalid["self"][0])
    assert "routine 'nowhere' not found" in str(invalid["missing"][0])
    assert "routine 'missing' is invalid" in str(invalid["uses_missing"][0])


def test_templates_are_checked_when_a_set_is_given(tmp_path: Path, templates: TemplateSet) -> None:
    (tmp_path / "r.yaml").write_text("steps:\n  - {action: IfAnyImagesFound, templates: [OK, Gone], actions: "
                                     "[{action: Click}]}\n  - {action: If, condition: {type: ImageExists, template: "
                                     "'${v}'}, then: [{action: Click}]}\n")
    assert not RoutineRegistry.load(tmp_path).invalid()
    errors = RoutineRegistry.load(tmp_path, templates).invalid()["r"]
    assert [str(e).split("/")[-1] for e in errors] == [
        "r.yaml:2:48: steps[0].templates[1]: template 'Gone' is not registered in the template set"]


def test_shipped_routines_are_valid_against_the_shipped_templates() -> None:
    reg = RoutineRegistry.load(REPO / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    assert reg.invalid() == {}
    assert {"demo/reach_home", "demo/open_pack", "demo/account_cycle", "sentries/dismiss_popups"} <= set(reg.keys())


runner = CliRunner()


@needs_seed
def test_cli_validate_shipped_and_seed() -> None:
    result = runner.invoke(app, ["routines", "validate", str(REPO / "routines")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["routines", "validate", str(SEED / "routines"),
                                 "--templates", str(SEED / "templates")])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == sum(len(v) for v in RoutineRegistry.load(
        SEED / "routines", build_seed_registry(SEED / "templates")).invalid().values())
    assert any(line.endswith("example_run_routine.yaml:13:5: steps[2]: RunRoutine takes routine: <registry key> "
                             "(routine_name is not a key)") for line in lines)
    one = runner.invoke(app, ["routines", "validate", str(SEED / "routines" / "example_routine.yaml"),
                              "--templates", str(SEED / "templates")])
    assert one.exit_code == 0, one.output


def test_cli_validate_with_a_routines_root(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "sub.yaml").write_text("steps: []\n")
    (tmp_path / "main.yaml").write_text("steps:\n  - {action: RunRoutine, routine: lib/sub}\n")
    ok = runner.invoke(app, ["routines", "validate", str(tmp_path / "main.yaml"), "--routines-root", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    bad = runner.invoke(app, ["routines", "validate", str(tmp_path / "lib" / "sub.yaml"), "--routines-root",
                              str(tmp_path / "lib")])
    assert bad.exit_code == 0
    broken = runner.invoke(app, ["routines", "validate", str(tmp_path / "main.yaml"), "--routines-root",
                                 str(tmp_path / "lib")])
    assert broken.exit_code == 1 and "is not under the routines root" in broken.output


def test_cli_list_by_tag() -> None:
    result = runner.invoke(app, ["routines", "list", "--tag", "sentry"])
    assert result.exit_code == 0 and "sentries/dismiss_popups" in result.stdout and "demo/" not in result.stdout
