"""The layering of DESIGN.md: console → flows → tasks → adapters → engine. The engine never imports Prefect or any
layer above it; no layer imports one above it.

Only ``emufleet/cli/`` may reach those layers, and only lazily inside command bodies (so that ``emufleet --help``
and the engine commands never load Prefect). Nothing but the CLI imports ``emufleet.cli`` (the console calls the
engine, as the CLI does).

Inside the engine, :data:`ORDER` ranks its packages and top-level modules: a unit imports only units of lower
tiers, at run time (module level or inside a function); imports under ``if TYPE_CHECKING:`` are free. Units of one
tier are independent, so no import closes a circle between units. A new package or module gets its tier here.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("prefect", "adapters", "flows", "tasks", "console")
#: The engine's units (``emufleet/<name>/`` or ``emufleet/<name>.py``), lowest first; one tuple per tier.
ORDER: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("boundary", "settings", "heap", "outcome", "datafiles", "paths"),
    ("process", "yamlio", "files", "durations", "plugins"),
    ("resources", "validation"),
    ("vision", "hosts"),
    ("sim",),
    ("device",),
    ("db",),
    ("routines", "control", "system"),
    ("accounts",),
    ("pools",),
    ("groups",),
    ("bot",),
    ("sessions", "farm", "notify", "reload", "tracing", "debug"),
    ("wall",),
    ("cli",),
)
TIER = {unit: tier for tier, units in enumerate(ORDER) for unit in units}


def _imports(path: Path, *, runtime_only: bool = False) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every import in a file; ``from a import b`` also yields ``a.b`` (``b``
    may be a module). ``runtime_only``: leave out the imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    typing_only = {id(inner) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for stmt in node.body for inner in ast.walk(stmt)} if runtime_only else set()
    out = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno, id(node) in top))
            if runtime_only:
                out += [(f"{node.module}.{alias.name}", node.lineno, id(node) in top) for alias in node.names]
    return out


def _unit(path: Path) -> str:
    """The engine unit a file belongs to: ``emufleet/pools/leases.py`` → ``pools``, ``emufleet/errors.py`` →
    ``errors``."""
    return path.relative_to(ROOT / "emufleet").parts[0].removesuffix(".py")


def _units() -> list[str]:
    return sorted({_unit(p) for p in (ROOT / "emufleet").rglob("*.py")} - {"__init__"})


@pytest.mark.parametrize("path", sorted((ROOT / "emufleet").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_never_imports_the_orchestration_layer(path: Path) -> None:
    in_cli = (ROOT / "emufleet" / "cli") in path.parents
    for module, line, module_level in _imports(path):
        if module.split(".")[0] in FORBIDDEN:
            assert in_cli and not module_level, f"{path}:{line}: the engine imports {module}"


@pytest.mark.parametrize(("package", "forbidden"), [
    ("tasks", ("flows", "console")), ("adapters", ("flows", "tasks", "console")), ("flows", ("console",))])
def test_lower_layers_never_import_upper_ones(package: str, forbidden: tuple[str, ...]) -> None:
    for path in sorted((ROOT / package).rglob("*.py")):
        for module, line, _ in _imports(path):
            assert module.split(".")[0] not in forbidden, f"{path}:{line}: {package} imports {module}"


def test_cli_help_does_not_load_prefect() -> None:
    code = "import sys; from emufleet.cli import app; print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("unit", _units())
def test_every_engine_unit_has_a_tier(unit: str) -> None:
    assert unit in TIER, f"emufleet/{unit}: give it a tier in tests/test_layering.py ORDER (lowest first)"


def _upward(unit: str, files: list[Path]) -> list[str]:
    """The run-time imports in ``files`` (of ``unit``) of units at its tier or above."""
    tier = TIER[unit]
    wrong = []
    for path in files:
        for module, line, _ in _imports(path, runtime_only=True):
            parts = module.split(".")
            if parts[0] != "emufleet" or len(parts) < 2 or parts[1] == unit or parts[1] not in TIER:
                continue
            if TIER[parts[1]] >= tier:
                wrong.append(f"{path}:{line}: {unit} (tier {tier}) imports {module} (tier {TIER[parts[1]]})")
    return wrong


@pytest.mark.parametrize("unit", [u for u in _units() if u in TIER])
def test_engine_units_import_only_lower_tiers_at_run_time(unit: str) -> None:
    single = ROOT / "emufleet" / f"{unit}.py"
    files = [single] if single.is_file() else sorted((ROOT / "emufleet" / unit).rglob("*.py"))
    wrong = _upward(unit, files)
    assert not wrong, "imports up the package order (tests/test_layering.py ORDER):\n" + "\n".join(wrong)


def test_an_upward_import_is_found_unless_it_is_for_type_checking_only(tmp_path: Path) -> None:
    source = tmp_path / "definition.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from emufleet.bot import BotSpec\n"
                      "from emufleet.routines import durations\n\ndef f():\n    from emufleet import bot\n",
                      encoding="utf-8")
    assert _upward("groups", [source]) == [f"{source}:7: groups (tier {TIER['groups']}) imports emufleet.bot "
                                           f"(tier {TIER['bot']})"]


def test_only_the_cli_imports_the_cli() -> None:
    wrong = []
    for package in ("emufleet", "console", "flows", "tasks", "adapters"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if (ROOT / "emufleet" / "cli") in path.parents:
                continue
            wrong += [f"{path.relative_to(ROOT)}:{line}: imports {module}" for module, line, _ in _imports(path)
                      if module == "emufleet.cli" or module.startswith("emufleet.cli.")]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", ["emufleet/bot", "flows", "adapters"])
def test_no_module_of_the_bot_flows_or_adapters_exceeds_350_lines(package: str) -> None:
    """Small modules with one job each (issue 22): a module that grows past 350 lines is split, not tolerated."""
    long = {str(path.relative_to(ROOT)): n for path in sorted((ROOT / package).glob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > 350}
    assert not long, f"split these modules: {long}"
