"""Leases: atomic checkout, heartbeat, release by owner only, expiry, retry rules, and no double lease ever.

Concurrency tests use a real SQLite file (WAL) shared by threads and by separate processes. A double lease is two
holding intervals of one account that overlap; each interval is recorded *inside* the lease (after acquire, before
release), so an overlap is proof of a double lease and no overlap over many cycles is the property under test.
"""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
from sqlalchemy import Engine, select, update

from emufleet import db
from emufleet.errors import LeaseError
from emufleet.pools.leases import LeaseOwner, acquire, finish, heartbeat, release_all
from tests.pools import _workers

OWNER = LeaseOwner("run-1", "127.0.0.1:16384")


def _account(eng: Engine, account_id: int) -> db.Account:
    with db.session(eng) as s:
        acc = s.get(db.Account, account_id)
        assert acc is not None
        return acc


def _overlaps(intervals: list[tuple[int, str, float, float]]) -> list[tuple[int, str, str]]:
    by_account: dict[int, list[tuple[float, float, str]]] = {}
    for account, worker, start, end in intervals:
        by_account.setdefault(account, []).append((start, end, worker))
    bad = []
    for account, spans in by_account.items():
        spans.sort()
        for (_, end_a, wa), (start_b, _, wb) in zip(spans, spans[1:], strict=False):
            if start_b <= end_a:
                bad.append((account, wa, wb))
    return bad


def test_lease_records_owner_ttl_and_blocks_others(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    lease = acquire(db_engine, OWNER, ttl_s=60)
    assert lease is not None and lease.account_id == account_id
    row = _account(db_engine, account_id)
    assert (row.lease_owner, row.lease_instance, row.lease_token, row.pool_status) == (
        "run-1", "127.0.0.1:16384", lease.token, "in_use")
    assert row.lease_expires_at == lease.expires_at
    assert acquire(db_engine, LeaseOwner("run-2", "x")) is None


def test_heartbeat_extends_and_release_is_owner_only(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    lease = acquire(db_engine, OWNER, ttl_s=5)
    assert lease is not None
    renewed = heartbeat(db_engine, lease, ttl_s=600)
    assert renewed.expires_at > lease.expires_at
    assert _account(db_engine, lease.account_id).lease_expires_at == renewed.expires_at
    impostor = type(lease)(lease.account_id, lease.device_account, lease.device_password,
                           LeaseOwner("run-2", "x"), "not-the-token", lease.leased_at, lease.expires_at)
    with pytest.raises(LeaseError):
        finish(db_engine, impostor, "returned")
    assert _account(db_engine, lease.account_id).lease_token == lease.token
    assert finish(db_engine, lease, "returned") == "available"
    with pytest.raises(LeaseError):  # released: gone for good
        heartbeat(db_engine, lease)


def test_expired_lease_is_reclaimed_and_the_old_holder_loses_it(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    old = acquire(db_engine, OWNER, ttl_s=60)
    assert old is not None
    with db_engine.begin() as conn:  # the holder stopped heartbeating long ago
        conn.execute(update(db.Account).values(lease_expires_at=db.utcnow().replace(year=2000)))
    new = acquire(db_engine, LeaseOwner("run-2", "y"), ttl_s=60)
    assert new is not None and new.account_id == account_id and new.token != old.token
    for op in (lambda: heartbeat(db_engine, old), lambda: finish(db_engine, old, "completed")):
        with pytest.raises(LeaseError):
            op()
    assert finish(db_engine, new, "completed") == "completed"


@pytest.mark.parametrize(
    ("retry_failed", "max_failures", "failures_before", "expected"),
    [
        (False, 3, 0, "failed"),       # no retry: terminal at once
        (True, 3, 0, "available"),     # 1 < 3
        (True, 3, 1, "available"),     # 2 < 3
        (True, 3, 2, "failed"),        # 3 == max: terminal
        (True, 1, 0, "failed"),
        (True, 0, 0, "failed"),
    ],
)
def test_failure_retry_rules(db_engine: Engine, make_accounts, retry_failed: bool, max_failures: int,
                             failures_before: int, expected: str) -> None:
    [account_id] = make_accounts(1, failure_count=failures_before)
    lease = acquire(db_engine, OWNER)
    assert lease is not None
    status = finish(db_engine, lease, "failed", reason="popup loop", retry_failed=retry_failed,
                    max_failures=max_failures)
    row = _account(db_engine, account_id)
    assert status == row.pool_status == expected
    assert row.failure_count == failures_before + 1 and row.last_error == "popup loop"
    assert row.lease_token is None and row.completed_at is None
    assert (acquire(db_engine, OWNER) is not None) == (expected == "available")


def test_completed_is_terminal_and_persisted_with_a_result_row(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    lease = acquire(db_engine, OWNER)
    assert lease is not None
    assert finish(db_engine, lease, "completed") == "completed"
    row = _account(db_engine, account_id)
    assert row.completed_at is not None and row.lease_token is None
    assert acquire(db_engine, OWNER) is None
    with db_engine.connect() as conn:
        assert conn.execute(select(db.AccountResultRecord.outcome)).scalars().all() == ["completed"]


def test_release_all_frees_one_run_only(db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    a = acquire(db_engine, LeaseOwner("run-a", "0"))
    b = acquire(db_engine, LeaseOwner("run-a", "1"))
    c = acquire(db_engine, LeaseOwner("run-b", "0"))
    assert a and b and c
    assert release_all(db_engine, "run-a") == 2
    assert _account(db_engine, c.account_id).lease_owner == "run-b"
    with pytest.raises(LeaseError):
        heartbeat(db_engine, a)


def test_threads_never_lease_one_account_twice(db_engine: Engine, make_accounts) -> None:
    make_accounts(5)  # fewer accounts than threads: maximal contention
    intervals: list[_workers.Interval] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            held = _workers.hold_leases(db_engine, LeaseOwner("thread-run", str(n)), 40)
        except BaseException as exc:  # surfaced below
            errors.append(exc)
            return
        with lock:
            intervals.extend(held)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(intervals) > 40  # the threads really did lease concurrently
    assert _overlaps(intervals) == []


def test_two_processes_never_lease_one_account_twice(db_url: str, db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_workers.lease_cycles, args=(db_url, f"p{n}", 150, out)) for n in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    intervals = [item for chunk in results for item in chunk]
    assert len({w for _, w, _, _ in intervals}) == 2
    assert _overlaps(intervals) == []
    with db_engine.connect() as conn:  # every lease ended, nothing is left held
        assert conn.execute(select(db.Account).where(db.Account.lease_token.is_not(None))).first() is None


def test_a_killed_process_lease_expires_and_the_account_comes_back(db_url: str, db_engine: Engine,
                                                                   make_accounts) -> None:
    [account_id] = make_accounts(1)
    ctx = multiprocessing.get_context("spawn")
    leased = ctx.Queue()
    proc = ctx.Process(target=_workers.lease_and_hang, args=(db_url, 1.0, leased))
    proc.start()
    try:
        assert leased.get(timeout=60) == account_id
    finally:
        proc.kill()
        proc.join(30)
    assert proc.exitcode is not None and proc.exitcode < 0  # killed, never released
    assert _account(db_engine, account_id).lease_owner == "doomed-run"
    lease = None
    deadline = time.monotonic() + 60
    while lease is None and time.monotonic() < deadline:
        lease = acquire(db_engine, OWNER)
        time.sleep(0.1)
    assert lease is not None and lease.account_id == account_id
