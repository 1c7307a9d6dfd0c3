"""Issue 23 item 11: the console never blocks its event loop. Its ``async`` handlers run file and database work
through ``asyncio.to_thread`` (or are plain functions, which FastAPI runs in its thread pool); a direct call of a
function that reads files or the database inside an ``async def`` stalls every request, ``/health`` included, for
as long as it takes (a 20 MB group blocked ``/health`` for 17 s)."""

from __future__ import annotations

import ast
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "console"

#: Functions that read or write files or the database (engine functions the console calls).
BLOCKING = {
    "find_pool", "discover", "validate_group", "validate_pool", "raw_group", "create_pool", "update_pool",
    "delete_pool", "search_accounts", "account_history", "find_account", "reset_one", "read_text", "write_text",
    "read_bytes", "open", "_routines", "_pools", "_editor", "_detail", "load_templates", "list_sessions", "cards",
    "read_routine",
}
#: Methods of a group store (``GroupStore().list()``, ``store.save(…)``): each reads or writes a file.
STORE_METHODS = {"list", "get", "save", "delete", "path"}


def _blocking_calls(fn: ast.AsyncFunctionDef) -> list[str]:
    found: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Lambda | ast.FunctionDef | ast.AsyncFunctionDef) and node is not fn:
            return  # runs elsewhere (a thread, when passed to to_thread)
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            on_store = isinstance(f, ast.Attribute) and (
                (isinstance(f.value, ast.Name) and f.value.id == "store")
                or (isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name)
                    and f.value.func.id == "GroupStore"))
            if name in BLOCKING or (on_store and name in STORE_METHODS):
                found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
        for child in ast.iter_child_nodes(node):
            visit(child)

    for statement in fn.body:
        visit(statement)
    return found


def test_no_async_console_handler_calls_file_or_database_work_on_the_loop() -> None:
    offenders = []
    for path in sorted(CONSOLE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.AsyncFunctionDef):
                offenders += [f"{path.relative_to(CONSOLE.parent)}: {node.name}: {c}" for c in _blocking_calls(node)]
    assert offenders == [], "\n".join(offenders)


def test_the_check_finds_a_blocking_call() -> None:
    """The check above can fail: a handler reading a pool file on the loop is found, one passing it to a thread
    is not."""
    module = ast.parse("async def h(name):\n    d = find_pool(name)\n    GroupStore().list()\n"
                       "    await asyncio.to_thread(find_pool, name)\n"
                       "    await asyncio.to_thread(lambda: find_pool(name).x())\n")
    fn = module.body[0]
    assert isinstance(fn, ast.AsyncFunctionDef)
    assert [c.split(":")[0] for c in _blocking_calls(fn)] == ["line 2", "line 3"]
