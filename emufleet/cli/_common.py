"""Helpers shared by the database-backed commands (``accounts``, ``pools``): the engine, errors, options."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # imported lazily at run time: `emufleet --help` stays fast
    from sqlalchemy import Engine

__all__ = ["MAX_COUNT", "MAX_PORT", "MAX_SECONDS", "UrlOption", "engine", "fail", "finite", "parse_box", "printable"]

UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL (default: settings).")]

MAX_SECONDS = 30 * 24 * 3600.0
"""Largest time a command-line option accepts (seconds): the data files' bound (``MAX_DURATION_S``)."""
MAX_COUNT = 1_000_000
"""Largest count (bots, instances, names, events) a command-line option accepts."""
MAX_PORT = 65535


def finite(value: float | None) -> float | None:
    """Option callback: refuse ``nan`` and ``inf`` (click's float ranges let ``nan`` through every bound)."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def engine(url: str | None) -> Engine:
    """The database at ``url`` (default: settings), which must exist (:func:`emufleet.db.require_schema`); disposed
    when the command ends (its click context closes).

    Raises:
        DatabaseError: the database does not exist or cannot be reached or migrated.
    """
    import click

    from emufleet import db

    eng = db.engine(url)
    try:
        db.require_schema(eng)
    except BaseException:
        eng.dispose()
        raise
    # a command run in-process (CliRunner, the console) must not leave its pool's connections to the garbage
    # collector: an open psycopg connection collected warns, and fails whatever test runs at that moment
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.call_on_close(eng.dispose)
    return eng


def fail(message: object) -> typer.Exit:
    """Print ``error: message`` in red on stderr (neutralised, :func:`printable`); returns the ``Exit(1)`` to raise."""
    typer.secho(f"error: {printable(message)}", fg="red", err=True)
    return typer.Exit(1)


# C0 controls but tab and newline, DEL, C1 controls (CSI, OSC…), and the bidirectional overrides that reorder text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``str(text)`` with every terminal control character shown as its escape (``\\x1b``, ``\\u202e``), so that
    names and messages from data files (a routine named ``"\\x1b]0;pwned\\x07"``) print as text, never as
    terminal escape sequences (issue 23 item 16)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", str(text))


_BOX = re.compile(r"\s*(-?\d{1,9})\s*,\s*(-?\d{1,9})\s*,\s*(-?\d{1,9})\s*,\s*(-?\d{1,9})\s*")


def parse_box(text: str, param_hint: str = "--box") -> tuple[int, int, int, int]:
    """``"x1,y1,x2,y2"`` (four integers) → the tuple; raises ``typer.BadParameter`` naming ``param_hint`` when it is
    not four integers or is empty (``x2 <= x1`` or ``y2 <= y1``)."""
    found = _BOX.fullmatch(text)
    if found is None:
        raise typer.BadParameter(f"{text!r}: expected x1,y1,x2,y2 (four integers)", param_hint=param_hint)
    x1, y1, x2, y2 = (int(v) for v in found.groups())
    if x2 <= x1 or y2 <= y1:
        raise typer.BadParameter(f"{text!r}: need x2 > x1 and y2 > y1", param_hint=param_hint)
    return x1, y1, x2, y2
