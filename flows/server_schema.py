"""Warm starts of the Prefect server emufleet starts (:mod:`flows.server`): whether its SQLite database is already
at the revision this Prefect version's start-up migrations leave, so the next start may skip the migration check."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from emufleet.files import write_atomic

__all__ = ["record_sqlite_head", "sqlite_at_recorded_head"]

_SCHEMA = "schema.json"  # the revision Prefect's migrations left the SQLite database at, and that Prefect's version


def _sqlite_revision(home: Path) -> str | None:
    """The alembic revision of the server's SQLite database (``<home>/prefect.db``), read-only; ``None`` if none."""
    file = home / "prefect.db"
    if not file.is_file():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"{file.as_uri()}?mode=ro", uri=True, timeout=5)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def sqlite_at_recorded_head(home: Path) -> bool:
    """Whether the database is at the revision recorded after this Prefect version last migrated it."""
    try:
        recorded = json.loads((home / _SCHEMA).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    revision = _sqlite_revision(home)
    return (isinstance(recorded, dict) and revision is not None and recorded.get("revision") == revision
            and recorded.get("prefect") == _prefect_version())


def record_sqlite_head(home: Path) -> None:
    """Record the revision the server's start-up migrations left (it answers only after they ran)."""
    revision = _sqlite_revision(home)
    if revision is not None:
        with contextlib.suppress(OSError):
            write_atomic(home / _SCHEMA, json.dumps({"revision": revision, "prefect": _prefect_version()}))


def _prefect_version() -> str:
    from importlib.metadata import version

    return version("prefect")
