"""Dialect helpers shared by the control-plane stores."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from emufleet.errors import DatabaseError


def insert_if_absent(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table``, skipping those whose primary key exists: one statement (``ON CONFLICT DO
    NOTHING``) on SQLite and PostgreSQL.

    Raises:
        DatabaseError: another database (emufleet supports SQLite and PostgreSQL).
    """
    if not rows:
        return
    name = conn.dialect.name
    if name == "sqlite":
        stmt: Any = sqlite.insert(table).on_conflict_do_nothing()
    elif name == "postgresql":
        stmt = postgresql.insert(table).on_conflict_do_nothing()
    else:
        raise DatabaseError(f"the {name} dialect is not supported (SQLite or PostgreSQL)", action="insert")
    conn.execute(stmt, rows)
