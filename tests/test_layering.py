"""The layering of DESIGN.md: console → flows → tasks → adapters → engine. The engine never imports Prefect or any
layer above it; no layer imports one above it.

Only ``emufleet/cli/`` may reach those layers, and only lazily inside command bodies (so that ``emufleet --help``
and the engine commands never load Prefect).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("prefect", "adapters", "flows", "tasks", "console")


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) for every import in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    top = {id(node) for node in tree.body}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno, id(node) in top) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, node.lineno, id(node) in top))
    return out


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
