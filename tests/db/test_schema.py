"""The schema: Alembic migrations match the models, SQLite pragmas are set on connect, constraints hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.exc import IntegrityError

from emufleet import db, settings


def test_migrations_produce_exactly_the_models(db_engine: Engine) -> None:
    with db_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, db.Base.metadata) == []
    assert db.current_revision(db_engine) == db.head_revision()
    assert {"accounts", "routine_executions", "account_results", "pools", "pool_members"} <= set(
        inspect(db_engine).get_table_names())


def test_upgrade_is_idempotent(db_url: str) -> None:
    assert db.upgrade(db_url) == db.head_revision()
    assert db.upgrade(db_url) == db.head_revision()


def test_sqlite_connections_get_wal_busy_timeout_and_foreign_keys(db_engine: Engine) -> None:
    if db_engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with db_engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(db_engine: Engine) -> None:
    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(insert(db.RoutineExecution).values(account_id=999, routine_name="r"))


def test_device_account_is_unique(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    with pytest.raises(IntegrityError), db_engine.begin() as conn:
        conn.execute(insert(db.Account).values(device_account="acct_000@test.invalid", device_password="x"))


def test_default_url_is_one_sqlite_file_in_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMUFLEET_DATABASE_URL", raising=False)
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(tmp_path / "state"))
    assert settings.database_url() == f"sqlite:///{tmp_path / 'state' / 'emufleet.db'}"
    assert db.upgrade() == db.head_revision()
    assert (tmp_path / "state" / "emufleet.db").is_file()


@pytest.mark.postgres
def test_postgres_upgrade_and_lease() -> None:
    from emufleet.pools.leases import LeaseOwner, acquire, finish

    url = os.environ["EMUFLEET_TEST_POSTGRES_URL"]
    eng = db.engine(url)
    try:
        db.Base.metadata.drop_all(eng)
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        db.upgrade(eng)
        with eng.begin() as conn:
            conn.execute(insert(db.Account).values(device_account="pg@test.invalid", device_password="x"))
        lease = acquire(eng, LeaseOwner("pg-run", "0"))
        assert lease is not None and acquire(eng, LeaseOwner("other", "1")) is None
        assert finish(eng, lease, "completed") == "completed"
    finally:
        eng.dispose()


def _upgrade(url: str) -> str:
    return db.upgrade(url)


def test_concurrent_upgrades_of_a_fresh_database(tmp_path: Path) -> None:
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    with multiprocessing.get_context("spawn").Pool(3) as workers:
        assert workers.map(_upgrade, [url] * 3) == [db.head_revision()] * 3
