"""A warm Prefect server skips its start-up migration check only when its SQLite database is at the revision
recorded after this Prefect version migrated it (flows.server); real SQLite files, no server started."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from flows.server_schema import record_sqlite_head, sqlite_at_recorded_head


def _database(home: Path, revision: str) -> None:
    with sqlite3.connect(home / "prefect.db") as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("DELETE FROM alembic_version")
        conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    conn.close()


def test_the_migration_check_is_skipped_only_at_the_recorded_head(tmp_path: Path) -> None:
    assert not sqlite_at_recorded_head(tmp_path), "no database: migrate"
    _database(tmp_path, "3ae6f4a8b2c1")
    assert not sqlite_at_recorded_head(tmp_path), "nothing recorded: migrate"
    record_sqlite_head(tmp_path)
    assert sqlite_at_recorded_head(tmp_path)
    _database(tmp_path, "0000aaaa1111")  # another revision (a reset, an older database copied in)
    assert not sqlite_at_recorded_head(tmp_path)
    record_sqlite_head(tmp_path)
    recorded = json.loads((tmp_path / "schema.json").read_text(encoding="utf-8"))
    (tmp_path / "schema.json").write_text(json.dumps({**recorded, "prefect": "2.0.0"}), encoding="utf-8")
    assert not sqlite_at_recorded_head(tmp_path), "another Prefect version: its migrations may differ"
    (tmp_path / "schema.json").write_text("{not json", encoding="utf-8")
    assert not sqlite_at_recorded_head(tmp_path)
