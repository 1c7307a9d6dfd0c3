"""Database fixtures shared by the db, pools and accounts suites: a migrated SQLite file in ``tmp_path``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from emufleet import db


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


POSTGRES_URL = os.environ.get("EMUFLEET_TEST_POSTGRES_URL")


def _fresh_postgres(url: str) -> None:
    eng = db.engine(url)
    try:
        with eng.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE")
            conn.exec_driver_sql("CREATE SCHEMA public")
    finally:
        eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of a fresh database migrated to head: a SQLite file in ``tmp_path``, and, when
    ``EMUFLEET_TEST_POSTGRES_URL`` is set, the same tests again on that (emptied) PostgreSQL database."""
    if request.param == "postgres":
        assert POSTGRES_URL is not None
        _fresh_postgres(POSTGRES_URL)
        url = POSTGRES_URL
    else:
        url = sqlite_url(tmp_path / "emufleet.db")
    db.upgrade(url)
    return url


@pytest.fixture
def db_engine(db_url: str) -> Iterator[Engine]:
    """An engine on :func:`db_url` (disposed at teardown)."""
    eng = db.engine(db_url)
    yield eng
    eng.dispose()


def add_accounts(eng: Engine, count: int, prefix: str = "acct", **columns: object) -> list[int]:
    """Insert ``count`` accounts ``<prefix>_NNN@test.invalid``; returns their ids in order."""
    rows = [{"device_account": f"{prefix}_{i:03d}@test.invalid", "device_password": f"pw{i}", **columns}
            for i in range(count)]
    with eng.begin() as conn:
        conn.execute(insert(db.Account), rows)
    names = [row["device_account"] for row in rows]
    with eng.connect() as conn:
        return list(conn.scalars(select(db.Account.id).where(db.Account.device_account.in_(names))
                                 .order_by(db.Account.id)))


@pytest.fixture
def make_accounts(db_engine: Engine) -> Callable[..., list[int]]:
    """``make_accounts(count, prefix="acct", **columns)`` → ids."""
    return lambda count, prefix="acct", **columns: add_accounts(db_engine, count, prefix, **columns)
