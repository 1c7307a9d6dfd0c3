"""Issue 23 item 2: only ``emufleet db upgrade`` creates a database; everything else refuses a missing one, naming
the URL, and a running process notices that its SQLite file was removed or replaced."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet import db
from emufleet.accounts import import_paths
from emufleet.cli import app
from emufleet.errors import DatabaseError
from emufleet.pools.definition import PoolDefinition
from emufleet.pools.leases import LeaseOwner
from emufleet.pools.pool import Pool
from tests.db.fixtures import POSTGRES_URL, _fresh_postgres
from tests.fuzz.corpus import REPO


@pytest.mark.parametrize("command", [["accounts", "list"], ["pools", "test", str(REPO / "pools" / "demo.yaml")],
                                     ["accounts", "import", str(REPO / "accounts")], ["db", "current"]])
def test_cli_refuses_a_missing_database_and_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'typo' / 'emufleet.db'}"
    monkeypatch.setenv("EMUFLEET_DATABASE_URL", url)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "does not exist (create it with `emufleet db upgrade`)" in result.output + str(result.exception)
    assert not (tmp_path / "typo").exists()
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0 and (tmp_path / "typo" / "emufleet.db").is_file(), result.output


def test_the_error_names_the_url_and_the_way_out(tmp_path: Path) -> None:
    eng = db.engine(f"sqlite:///{tmp_path / 'missing.db'}")
    with pytest.raises(DatabaseError, match=r"database sqlite:///\S+missing\.db does not exist .*emufleet db upgrade"):
        db.require_schema(eng)
    (tmp_path / "empty.db").touch()  # a file with no tables: a mistyped URL that happened to exist
    with pytest.raises(DatabaseError, match=r"empty\.db holds no emufleet tables"):
        db.require_schema(db.engine(f"sqlite:///{tmp_path / 'empty.db'}"))
    assert not (tmp_path / "missing.db").exists()


@pytest.mark.parametrize("how", ["removed", "replaced"])
def test_a_running_process_notices_its_file_removed_or_replaced(tmp_path: Path, how: str) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    db.upgrade(url)
    eng = db.engine(url)
    pool = Pool(PoolDefinition.load(REPO / "pools" / "demo.yaml"), eng, LeaseOwner("run", "127.0.0.1:16384"))
    import_paths(eng, [REPO / "accounts"])
    pool.refresh()
    assert pool.next(60) is not None  # the process works on the file
    if how == "removed":
        (tmp_path / "live.db").unlink()
    else:  # another database moved into its place (a restore, a second `db upgrade` elsewhere)
        shutil.copy(tmp_path / "live.db", tmp_path / "other.db")
        os.replace(tmp_path / "other.db", tmp_path / "live.db")
    with pytest.raises(DatabaseError, match=f"was {how}"):
        pool.next(60)
    eng.dispose()


@pytest.mark.postgres
def test_postgres_without_the_schema_is_refused() -> None:
    assert POSTGRES_URL is not None
    _fresh_postgres(POSTGRES_URL)
    eng = db.engine(POSTGRES_URL)
    try:
        with pytest.raises(DatabaseError, match="holds no emufleet tables .*emufleet db upgrade"):
            db.require_schema(eng)
        assert db.upgrade(eng) == db.head_revision()
        assert db.require_schema(eng) == db.head_revision()
    finally:
        eng.dispose()
