"""The throwaway PostgreSQL cluster of ``make test-postgres`` / ``.ci/run`` (``emufleet.db.cluster``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from emufleet import db
from emufleet.db.cluster import PostgresCluster, PostgresUnavailable, find_binaries

try:
    BINDIR: Path | None = find_binaries()
except PostgresUnavailable:
    BINDIR = None
needs_binaries = pytest.mark.skipif(BINDIR is None, reason="no PostgreSQL binaries (initdb, pg_ctl) here")


@needs_binaries
def test_wrapped_command_gets_a_live_database_and_its_exit_code_is_kept(tmp_path: Path) -> None:
    probe = ("import os, sys; from sqlalchemy import create_engine, text; "
             "e = create_engine(os.environ['EMUFLEET_TEST_POSTGRES_URL']); "
             "c = e.connect(); print(c.execute(text('select current_setting(\\'data_directory\\')')).scalar()); "
             "c.close(); e.dispose(); sys.exit(7)")
    done = subprocess.run([sys.executable, "-m", "emufleet.db.cluster", "--", sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 7, done.stderr
    data_dir = Path(done.stdout.strip())
    assert data_dir.name == "data" and not data_dir.parent.exists()  # stopped and removed afterwards


@needs_binaries
def test_cluster_serves_migrations_and_extra_databases() -> None:
    with PostgresCluster.start() as pg:
        root = pg.root
        url = pg.create_database("second")
        assert url.endswith(f":{pg.port}/second") and pg.url("x", driver="asyncpg").startswith("postgresql+asyncpg://")
        assert db.upgrade(url) == db.head_revision()
        eng = db.engine(url)
        try:
            with eng.connect() as conn:
                assert conn.execute(text("select count(*) from accounts")).scalar() == 0
        finally:
            eng.dispose()
        with pytest.raises(PostgresUnavailable, match="createdb failed"):
            pg.create_database("second")  # already there: the tool's own message is passed on
    assert not root.exists()


def test_missing_binaries_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match="initdb failed"), PostgresCluster.start(bindir=tmp_path):
        pass
