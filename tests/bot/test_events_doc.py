"""docs/supervision.md's event tables held to the code, in both directions (issue 22 item 7).

Three sources must agree: the docs' tables, the declarations (``PAYLOADS``, ``VALUES`` in emufleet/bot/events.py,
which refuse any other key or value at run time) and the places the engine emits events (read from its source:
every declared key is sent somewhere, every key sent is declared).
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from emufleet.bot.events import PAYLOADS, VALUES, EventKind

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "supervision.md"
TICKED = re.compile(r"`([^`]+)`")


def _table(header: str) -> list[list[str]]:
    """The rows (cells) of the markdown table under ``header`` in docs/supervision.md."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(header)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    assert rows, f"docs/supervision.md: no rows under {header!r}"
    return rows


def _doc_payloads() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for kinds, _when, payload in _table("| kind | when | payload |"):
        keys = {key for key in TICKED.findall(re.sub(r"\([^)]*\)", "", payload))}
        for kind in TICKED.findall(kinds):
            assert kind not in out, f"docs/supervision.md lists {kind} twice"
            out[kind] = keys
    return out


def _emitted() -> dict[str, set[str]]:
    """Payload keys per event kind, as the engine's source sends them (BotEvents are built in emufleet/bot only)."""
    sent: dict[str, set[str]] = defaultdict(set)
    account_kinds = [k.value for k in EventKind if k.value.startswith("account.")]
    for path in sorted((ROOT / "emufleet" / "bot").rglob("*.py")):  # the only package that builds BotEvents
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "emit":
                kinds = _kinds(node.args[0])
                assert kinds, f"{path}:{node.lineno}: emit's kind is no EventKind.X this test can read; name it"
                keys = {kw.arg for kw in node.keywords if kw.arg is not None}
                if any(kw.arg is None and "metrics.payload" in ast.unparse(kw.value) for kw in node.keywords):
                    keys.add("m.*")
                assert all(kw.arg is not None or "metrics.payload" in ast.unparse(kw.value) for kw in node.keywords), \
                    f"{path}:{node.lineno}: an emit spreads keys this test cannot read; name them"
            elif name == "BotEvent" and len(node.args) >= 3 and isinstance(node.args[2], ast.Dict):
                kinds = _kinds(node.args[0]) or account_kinds  # EventKind(kind): the account provider's changes
                keys = {k.value for k in node.args[2].keys if isinstance(k, ast.Constant)}
            else:
                continue
            for kind in kinds:
                sent[kind] |= keys
    return sent


def _kinds(node: ast.expr) -> list[str]:
    """The kinds an expression names: ``EventKind.X``, or either side of ``A if … else B``."""
    if isinstance(node, ast.IfExp):
        return _kinds(node.body) + _kinds(node.orelse)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "EventKind":
        return [EventKind[node.attr].value]
    return []


def test_the_docs_list_every_kind_and_its_keys_as_declared() -> None:
    docs = _doc_payloads()
    assert set(docs) == {k.value for k in EventKind}, "kinds in the docs' table vs EventKind"
    for kind in EventKind:
        assert docs[kind.value] == set(PAYLOADS[kind]), f"{kind}: docs/supervision.md vs PAYLOADS"


def test_the_docs_list_every_closed_set_of_values_as_declared() -> None:
    docs = {(EventKind(TICKED.findall(kind)[0]), TICKED.findall(key)[0]): set(TICKED.findall(values))
            for kind, key, values in _table("| kind | key | values |")}
    assert docs == {key: set(values) for key, values in VALUES.items()}


def test_the_code_sends_exactly_the_declared_keys() -> None:
    sent = _emitted()
    for kind in EventKind:
        assert sent.get(kind.value, set()) == set(PAYLOADS[kind]), \
            f"{kind}: keys sent by emufleet/ vs declared in PAYLOADS (a declared key nobody sends is a promise the " \
            f"docs must not make)"


def test_the_closed_values_are_the_engines_own_names() -> None:
    from emufleet.bot.ladder import STUCK_KINDS
    from emufleet.bot.recovery import Rung
    from emufleet.bot.session import FINAL

    assert VALUES[EventKind.STUCK, "reason"] == {str(k) for k in STUCK_KINDS}
    assert VALUES[EventKind.RECOVERING, "rung"] == {str(r) for r in Rung}
    assert VALUES[EventKind.FINISHED, "state"] == {str(s) for s in FINAL.values()} | {"failed"}
