"""Accounts reset, the pool's "last refreshed" time, and the background auto-refresh while a pool is in use."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, select, update

from emufleet import db
from emufleet.errors import InputError, LeaseError, PoolError
from emufleet.pools import (
    LeaseOwner,
    Pool,
    PoolAccountProvider,
    PoolDefinition,
    format_age,
    last_refreshed,
    refreshed_ago,
    reset_accounts,
)
from emufleet.routines.accounts import AccountResult

ALL = """
pool_name: p
queries:
  - name: unfinished
    filters: [{column: pool_status, comparator: IN, value: [available, in_use]}]
config: {retry_failed: false, refresh_interval: %s}
"""


def make_pool(eng: Engine, interval: float = 0, owner: str = "run-1") -> Pool:
    return Pool(PoolDefinition.loads(ALL % interval, "p.yaml"), eng, LeaseOwner(owner, "i0"), poll_interval_s=0.02)


def statuses(eng: Engine) -> dict[str, tuple[str, int, str | None]]:
    with eng.connect() as conn:
        rows = conn.execute(select(db.Account.device_account, db.Account.pool_status, db.Account.failure_count,
                                   db.Account.last_error))
        return {r[0]: (r[1], r[2], r[3]) for r in rows}


def test_reset_by_pool_makes_a_finished_run_leasable_again(db_engine: Engine, make_accounts) -> None:  # noqa: ANN001
    make_accounts(3)
    pool = make_pool(db_engine)
    done = [pool.next() for _ in range(3)]
    pool.complete(done[0], AccountResult(success=True, packs_opened=2))
    pool.fail(done[1], "boom")
    held = done[2]
    assert pool.try_next() is None
    report = reset_accounts(db_engine, pool="p")
    assert (report.reset, report.leased) == (2, 1)  # the leased one is left to its bot
    state = statuses(db_engine)
    assert state["acct_000@test.invalid"] == ("available", 0, None)
    assert state["acct_001@test.invalid"] == ("available", 0, None)
    assert state["acct_002@test.invalid"][0] == "in_use"
    pool.heartbeat(held)  # its lease is untouched
    pool.refresh()  # completed ones had left the pool's filter; after the reset they are members again
    assert pool.stats().available == 2
    with db_engine.connect() as conn:
        assert conn.scalar(select(db.Account.packs_opened).where(db.Account.id == done[0].account_id)) == 0
        completed = conn.scalar(select(db.Account.completed_at).where(db.Account.id == done[0].account_id))
    assert completed is None and pool.stats().packs_opened == 2  # result history is kept


def test_reset_with_include_leased_ends_the_lease(db_engine: Engine, make_accounts) -> None:  # noqa: ANN001
    make_accounts(1)
    pool = make_pool(db_engine)
    lease = pool.next()
    assert reset_accounts(db_engine, accounts=[lease.device_account], include_leased=True).reset == 1
    with pytest.raises(LeaseError):
        pool.heartbeat(lease)


def test_reset_selectors_combine_and_are_checked(db_engine: Engine, make_accounts) -> None:  # noqa: ANN001
    ids = make_accounts(4)
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).where(db.Account.id.in_(ids[:2])).values(pool_status="failed",
                                                                                 failure_count=3))
        conn.execute(update(db.Account).where(db.Account.id == ids[2]).values(pool_status="completed"))
    assert reset_accounts(db_engine, status="failed", accounts=[ids[0], "acct_002@test.invalid"]).reset == 1
    assert reset_accounts(db_engine, accounts=[str(ids[2])]).reset == 1
    assert reset_accounts(db_engine, status="failed").reset == 1
    assert reset_accounts(db_engine, everything=True).reset == 4
    with pytest.raises(InputError, match="say which accounts"):
        reset_accounts(db_engine)
    with pytest.raises(InputError, match="status must be one of"):
        reset_accounts(db_engine, status="vip")
    with pytest.raises(InputError, match=r"no such account\(s\): 999, ghost@x"):
        reset_accounts(db_engine, accounts=["ghost@x", 999, ids[0]])
    with pytest.raises(PoolError, match="never been refreshed"):
        reset_accounts(db_engine, pool="nope")


def test_last_refreshed_is_stored_and_said_in_words(db_engine: Engine, make_accounts) -> None:  # noqa: ANN001
    make_accounts(1)
    assert last_refreshed(db_engine, "p") is None and refreshed_ago(None) == "never"
    before = db.utcnow()
    make_pool(db_engine).refresh()
    when = last_refreshed(db_engine, "p")
    assert when is not None and before <= when <= db.utcnow()
    assert refreshed_ago(when, now=when + timedelta(minutes=5, seconds=3)) == "5m 3s ago"
    assert [format_age(s) for s in (0, 59, 3600, 3660, 86400 * 2 + 3600 * 4 + 5)] == ["0s", "59s", "1h", "1h 1m",
                                                                                      "2d 4h"]
    assert refreshed_ago(datetime(2020, 1, 1), now=datetime(2020, 1, 1, 0, 0, 42)) == "42s ago"


def test_background_refresh_runs_while_the_pool_is_in_use_and_stops_after(db_engine: Engine,
                                                                          make_accounts) -> None:  # noqa: ANN001
    make_accounts(1)
    launch = make_pool(db_engine, interval=0.2)
    provider = PoolAccountProvider(launch.for_owner(LeaseOwner("run-1", "i0")), routine="r")
    other = PoolAccountProvider(launch.for_owner(LeaseOwner("run-1", "i1")), routine="r")
    assert launch.auto_refreshing
    first = _wait_for_refresh(db_engine, None)
    make_accounts(2, prefix="late")  # new accounts appear without any checkout: the background refresh finds them
    deadline = time.monotonic() + 30
    while launch.stats().total < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert launch.stats().total == 3 and last_refreshed(db_engine, "p") > first
    provider.close()
    provider.close()  # closing twice counts once
    assert launch.auto_refreshing
    other.close()
    assert not launch.auto_refreshing
    time.sleep(0.3)
    settled = last_refreshed(db_engine, "p")
    time.sleep(0.6)
    assert last_refreshed(db_engine, "p") == settled  # no refresh once nobody uses the pool


def test_no_background_refresh_with_a_manual_pool(db_engine: Engine, make_accounts) -> None:  # noqa: ANN001
    make_accounts(1)
    provider = PoolAccountProvider(make_pool(db_engine, interval=0), routine="r")
    assert not provider.pool.auto_refreshing
    provider.close()


def _wait_for_refresh(eng: Engine, after: datetime | None) -> datetime:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        when = last_refreshed(eng, "p")
        if when is not None and (after is None or when > after):
            return when
        time.sleep(0.02)
    raise AssertionError("no refresh")


def test_freshness_words() -> None:
    from emufleet.pools import describe_freshness

    assert describe_freshness("p", None, 0) == "pool 'p' has never been refreshed; manual refresh only"
    when = db.utcnow() - timedelta(minutes=5)
    assert describe_freshness("p", when, 30).startswith("pool 'p' was last refreshed 5m")
    assert describe_freshness("p", when, 30).endswith("ago; refreshes every 30 s while in use")
