"""Issue 23 item 4: an account's result is kept and retried, never lost, when the database turns read-only."""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select

from emufleet import db
from emufleet.routines.accounts import AccountResult
from tests.pools.test_provider import DEVICE, executions, provider, row


def _query_only(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")  # type: ignore[attr-defined]


@contextmanager
def read_only(eng: Engine) -> Iterator[None]:
    """The database itself refuses writes inside the block, as after a read-only remount or a failover.

    SQLite: the file is made read-only (mode 0444, and immutable for root, whom modes do not stop), and new
    connections are ``query_only``: SQLite reuses a file descriptor this process still holds open read-write for
    a new connection to the same file, so the file's mode alone does not stop every connection of the process.
    PostgreSQL: the database's new transactions are read-only. Connections opened before are dropped, as a
    remount breaks them; the engine under test must itself drop the read-only ones once the block ends.
    """
    if eng.dialect.name == "sqlite":
        path = Path(str(eng.url.database))
        path.chmod(0o444)
        immutable = os.geteuid() == 0 and not subprocess.run(["chattr", "+i", str(path)],
                                                             capture_output=True).returncode
        event.listen(eng, "connect", _query_only)
    else:
        with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    eng.dispose()
    try:
        yield
    finally:
        if eng.dialect.name == "sqlite":
            if immutable:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            event.remove(eng, "connect", _query_only)
            path.chmod(0o644)
        else:
            with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("SET default_transaction_read_only = off")
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        # no dispose here: the engine must itself drop the connections it opened read-only


def _wait(condition, timeout_s: float = 30.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the kept result was never written"
        time.sleep(0.05)


def test_a_result_the_database_refuses_is_kept_retried_and_recorded(
        db_engine: Engine, make_accounts, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    first, second = make_accounts(2)
    prov = provider(db_engine)
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    caplog.set_level(logging.INFO, logger="emufleet.pools")
    with read_only(db_engine):
        prov.complete(None, AccountResult(success=True, packs_opened=2))  # no error into the routine
        assert len(prov.unrecorded) == 1 and prov.current is None
        assert row(db_engine, first).pool_status == "in_use"  # not written: the database refuses
    _wait(lambda: row(db_engine, first).pool_status == "completed")  # retried in the background
    acc = row(db_engine, first)
    assert (acc.lease_token, acc.packs_opened) == (None, 2)
    assert [e.execution_status for e in executions(db_engine)] == ["completed"]
    with db.session(db_engine) as s:
        assert [r.packs_opened for r in s.scalars(select(db.AccountResultRecord))] == [2]
    assert (prov.unrecorded.recorded, prov.unrecorded.given_up, len(prov.unrecorded)) == (1, 0, 0)

    # Bounded: a database that stays read-only past the bot's end gives the result up, in one line, no traceback.
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    with read_only(db_engine):
        prov.mark_failed(None, "stuck")
        prov.close(settle_s=0)
    assert (prov.unrecorded.given_up, len(prov.unrecorded)) == (1, 0)
    assert row(db_engine, second).pool_status == "in_use"  # its lease expires: played again, as the log says
    lines = [r for r in caplog.records if r.name == "emufleet.pools.unrecorded"]
    assert [r.levelname for r in lines] == ["WARNING", "INFO", "WARNING", "ERROR"]
    assert all(r.exc_info is None for r in lines)
    assert f"account {second} failed: result given up" in lines[-1].getMessage()
