"""Every exception caught broadly is said, not swallowed (issue 22 item 4): a handler of ``Exception``,
``BaseException`` or everything re-raises, logs its traceback (``log.exception``) or uses what it caught (logs it,
reports it, turns it into a result);
``contextlib.suppress`` never names ``Exception`` (``adapters.logged.logged`` logs the reason instead)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emufleet", "adapters", "tasks", "flows", "console")
BROAD = {"Exception", "BaseException"}


def _names(node: ast.expr | None) -> set[str]:
    """The exception class names a handler or ``suppress(...)`` names (``None``: a bare ``except:``)."""
    if node is None:
        return {"BaseException"}
    return {n.attr if isinstance(n, ast.Attribute) else n.id for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute)}


def swallowed(path: Path, root: Path = ROOT) -> list[str]:
    """``path:line`` (relative to ``root``) of each broad handler that neither re-raises nor uses its exception,
    and of each ``suppress(Exception)``."""
    wrong = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ExceptHandler) and _names(node.type) & BROAD:
            body = [n for stmt in node.body for n in ast.walk(stmt)]
            raises = any(isinstance(n, ast.Raise) for n in body)
            used = node.name is not None and any(isinstance(n, ast.Name) and n.id == node.name for n in body)
            logged = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                         and n.func.attr in ("exception", "handleError") for n in body)  # the traceback is logged
            if not (raises or used or logged):
                wrong.append(f"{path.relative_to(root)}:{node.lineno}: except {ast.unparse(node.type or node)}")
        elif (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("suppress")
              and any(_names(arg) & BROAD for arg in node.args)):
            wrong.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
    return wrong


@pytest.mark.parametrize("package", PACKAGES)
def test_no_exception_is_swallowed_without_its_reason(package: str) -> None:
    wrong = [w for path in sorted((ROOT / package).rglob("*.py")) for w in swallowed(path)]
    assert not wrong, "log the reason (adapters.logged.logged, or the exception in a log line):\n" + "\n".join(wrong)


def test_a_silent_handler_is_found(tmp_path: Path) -> None:
    source = tmp_path / "probe.py"
    source.write_text("import contextlib\ntry:\n    pass\nexcept Exception:\n    pass\n"
                      "with contextlib.suppress(OSError, Exception):\n    pass\n"
                      "try:\n    pass\nexcept Exception as exc:\n    print(exc)\n", encoding="utf-8")
    assert swallowed(source, tmp_path) == ["probe.py:4: except Exception",
                                           "probe.py:6: contextlib.suppress(OSError, Exception)"]
