"""Helpers shared by the database-backed commands (``accounts``, ``pools``): the engine, errors, options."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:  # imported lazily at run time: `emufleet --help` stays fast
    from sqlalchemy import Engine

__all__ = ["UrlOption", "engine", "fail"]

UrlOption = Annotated[str | None, typer.Option("--url", help="Database URL (default: settings).")]


def engine(url: str | None) -> Engine:
    """The database at ``url`` (default: settings), which must exist (:func:`emufleet.db.require_schema`)."""
    from emufleet import db

    eng = db.engine(url)
    db.require_schema(eng)
    return eng


def fail(message: object) -> typer.Exit:
    """Print ``error: message`` in red on stderr; returns the ``Exit(1)`` to raise."""
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(1)
