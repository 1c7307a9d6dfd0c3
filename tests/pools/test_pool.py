"""Pools on a real SQLite file: resolution, watched folders, sorting, blocking next, stats, dry runs, injection."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, update

from emufleet import db
from emufleet.accounts import AccountCredentials, write_account_file
from emufleet.errors import NoAccountsAvailable
from emufleet.pools import LeaseOwner, Pool, PoolDefinition, count_by_state, held_leases, search_accounts
from emufleet.routines.accounts import AccountResult

OWNER = LeaseOwner("launch-1", "0")


def pool(eng: Engine, text: str, file: Path | str = "p.yaml", owner: LeaseOwner = OWNER) -> Pool:
    return Pool(PoolDefinition.loads(text, file), eng, owner, poll_interval_s=0.02)


def names(eng: Engine, ids: list[int]) -> list[str]:
    with eng.connect() as conn:
        found = dict(conn.execute(select(db.Account.id, db.Account.device_account)
                                  .where(db.Account.id.in_(ids))).all())
    return [found[i] for i in ids]


def drain(p: Pool) -> list[str]:
    out = []
    while (lease := p.try_next()) is not None:
        out.append(lease.device_account)
    return out


def set_packs(eng: Engine, packs: dict[str, int]) -> None:
    with eng.begin() as conn:
        for name, n in packs.items():
            conn.execute(update(db.Account).where(db.Account.device_account == name).values(packs_opened=n))


def test_queries_are_sorted_limited_and_unioned_then_include_then_exclude(db_engine: Engine, make_accounts) -> None:
    make_accounts(6)
    set_packs(db_engine, {f"acct_{i:03d}@test.invalid": i * 10 for i in range(6)})
    p = pool(db_engine, """
pool_name: p
queries:
  - name: top two by packs
    filters: [{column: packs_opened, comparator: ">=", value: 20}]
    sort: [{column: packs_opened, direction: DESC}]
    limit: 2
  - name: low ones, overlapping
    filters: [{column: packs_opened, comparator: "<=", value: 40}]
    sort: [{column: packs_opened, direction: asc}]
include: [acct_005@test.invalid, ghost@test.invalid]
exclude: [acct_000@test.invalid]
""")
    report = p.refresh()
    assert report.missing_include == ("ghost@test.invalid",)
    # q1: 5, 4; q2 adds 0 (excluded later), 1, 2, 3 (4 already in); include 5 already in.
    assert drain(p) == [f"acct_{i:03d}@test.invalid" for i in (5, 4, 1, 2, 3)]


def test_sort_method_orders_checkouts(db_engine: Engine, make_accounts) -> None:
    make_accounts(4)
    set_packs(db_engine, {"acct_000@test.invalid": 5, "acct_001@test.invalid": 50, "acct_002@test.invalid": 1,
                          "acct_003@test.invalid": 20})
    text = "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n"
    assert drain(pool(db_engine, text + "config: {sort_method: packs_desc}")) == [
        "acct_001@test.invalid", "acct_003@test.invalid", "acct_000@test.invalid", "acct_002@test.invalid"]


def test_modified_asc_puts_never_used_accounts_first(db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).where(db.Account.device_account == "acct_000@test.invalid")
                     .values(last_used_at=db.utcnow()))
        conn.execute(update(db.Account).where(db.Account.device_account == "acct_001@test.invalid")
                     .values(last_used_at=db.utcnow() - timedelta(days=1)))
    text = "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n"
    assert drain(pool(db_engine, text + "config: {sort_method: modified_asc}")) == [
        "acct_002@test.invalid", "acct_001@test.invalid", "acct_000@test.invalid"]


def test_relative_time_filters_are_evaluated_in_python(db_engine: Engine, make_accounts) -> None:
    make_accounts(2)
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).where(db.Account.device_account == "acct_000@test.invalid")
                     .values(last_used_at=db.utcnow() - timedelta(days=10)))
        conn.execute(update(db.Account).where(db.Account.device_account == "acct_001@test.invalid")
                     .values(last_used_at=db.utcnow() - timedelta(days=1)))
    p = pool(db_engine, "pool_name: p\nqueries: [{name: recent, filters: [{column: last_used_at, comparator: '>=',"
                        " value: \"datetime('now', '-7 days')\"}]}]\n")
    assert p.test().sample == ("acct_001@test.invalid",)


def test_watched_paths_import_shared_preferences_files(db_engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "imports"
    write_account_file(folder / "a.xml", AccountCredentials("watched_a@test.invalid", "pa"))
    write_account_file(folder / "sub" / "b.xml", AccountCredentials("watched_b@test.invalid", "pb"))
    (folder / "broken.xml").write_text("<account>x</account>\n<password>y</password>\n")
    (tmp_path / "pool.yaml").write_text("pool_name: w\nwatched_paths: [imports, missing_folder]\n")
    p = Pool(PoolDefinition.load(tmp_path / "pool.yaml"), db_engine, OWNER)

    dry = p.test()
    assert dry.total == 2 and len(dry.file_errors) == 1
    with db_engine.connect() as conn:  # a dry run keeps nothing
        assert conn.scalar(select(func.count()).select_from(db.Account)) == 0

    report = p.refresh()
    assert (report.members, report.imported, len(report.file_errors)) == (2, 2, 1)
    assert "broken.xml" in report.file_errors[0]
    lease = p.next()
    assert (lease.device_account, lease.device_password) == ("watched_a@test.invalid", "pa")

    write_account_file(folder / "a.xml", AccountCredentials("watched_a@test.invalid", "new-password"))
    assert p.refresh().imported == 1  # the password changed; the lease survives a refresh
    p.heartbeat(lease)
    with db_engine.connect() as conn:
        assert conn.scalar(select(db.Account.device_password).where(db.Account.id == lease.account_id)) \
            == "new-password"


def test_values_are_bound_never_pasted(db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    hostile = ["x' OR '1'='1", "'; DROP TABLE accounts; --", "%' OR 1=1 --", "\\'; DELETE FROM accounts; --"]
    text = "pool_name: p\nqueries:\n" + "".join(
        f"  - name: q{i}\n    filters: [{{column: device_account, comparator: {cmp}, value: {value!r}}}]\n"
        for i, (cmp, value) in enumerate([("'='", hostile[0]), ("LIKE", hostile[1]), ("LIKE", hostile[2]),
                                          ("IN", hostile), ("'!='", hostile[3])]))
    p = pool(db_engine, text)
    # Only the != query matches (every real name differs from the hostile string); nothing ran as SQL.
    assert p.refresh().members == 3
    with db_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(db.Account)) == 3


def test_next_times_out_with_a_clear_error(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    p = pool(db_engine, "pool_name: tiny\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]")
    p.next()
    with pytest.raises(NoAccountsAvailable, match=r"pool 'tiny': no account free after 0.1 s \(1 members: 1 in use"):
        p.next(timeout_s=0.1)


def test_next_blocks_until_another_holder_releases(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    text = "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]"
    holder = pool(db_engine, text, owner=LeaseOwner("launch-1", "bot-a"))
    waiter = holder.for_owner(LeaseOwner("launch-1", "bot-b"))
    held = holder.next()
    got: list[object] = []
    started = threading.Event()

    def wait() -> None:
        started.set()
        got.append(waiter.next(timeout_s=60))

    thread = threading.Thread(target=wait)
    thread.start()
    started.wait(10)
    holder.release(held)
    thread.join(60)
    [lease] = got
    assert lease.account_id == held.account_id and lease.owner.instance == "bot-b"


def test_cancel_ends_a_wait(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    p = pool(db_engine, "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]")
    p.next()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(NoAccountsAvailable, match="cancelled"):
        p.next(timeout_s=600, cancel=cancel)


def test_stats_count_states_and_sum_results(db_engine: Engine, make_accounts) -> None:
    make_accounts(5)
    p = pool(db_engine, "pool_name: s\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n"
                        "config: {retry_failed: true, max_failures: 2}")
    a, b, c, d = (p.next() for _ in range(4))
    p.complete(a, AccountResult(success=True, packs_opened=3, cards_found=15, stars_total=2, keep_count=1))
    p.complete(b, AccountResult(success=True, packs_opened=2))
    assert p.complete(c, AccountResult(success=False, error="stuck", packs_opened=1)) == "available"  # retried
    assert p.fail(d, "banned") == "available"  # 1 failure < max_failures 2
    again = p.next()  # resolution order: c is the first free account again
    assert again.account_id == c.account_id
    assert p.fail(again, "stuck again") == "failed"  # 2 failures: terminal
    s = p.stats()
    assert (s.total, s.available, s.in_use, s.completed, s.failed, s.skipped) == (5, 2, 0, 2, 1, 0)
    assert (s.packs_opened, s.cards_found, s.stars_total, s.keep_count, s.results) == (6, 15, 2, 1, 5)
    assert s.last_refresh is not None


def test_two_launches_of_one_definition_are_independent(db_engine: Engine, make_accounts) -> None:
    make_accounts(2)
    definition = PoolDefinition.loads(
        "pool_name: shared\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]", "p.yaml")
    one = Pool(definition, db_engine, LeaseOwner("launch-1", "0"))
    two = Pool(definition, db_engine, LeaseOwner("launch-2", "0"))
    a, b = one.next(), two.next()
    assert a.account_id != b.account_id
    with pytest.raises(NoAccountsAvailable):
        one.next()
    two.release(b)
    assert one.next().account_id == b.account_id


def test_first_use_resolves_and_manual_refresh_picks_up_new_accounts(db_engine: Engine, make_accounts) -> None:
    make_accounts(1, prefix="old")
    p = pool(db_engine, "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]")
    assert p.next().device_account == "old_000@test.invalid"
    make_accounts(1, prefix="new")
    assert p.try_next() is None  # refresh_interval 0: membership is fixed until a refresh
    p.refresh()
    assert p.next().device_account == "new_000@test.invalid"


def test_refresh_interval_re_resolves_on_use(db_engine: Engine, make_accounts) -> None:
    import time

    make_accounts(1, prefix="old")
    p = pool(db_engine, "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n"
                        "config: {refresh_interval: 0.001}")
    assert p.next().device_account == "old_000@test.invalid"
    make_accounts(1, prefix="new")
    time.sleep(0.01)  # let the (1 ms) refresh interval pass: the next checkout re-resolves first
    assert p.next().device_account == "new_000@test.invalid"


def test_an_expired_lease_counts_as_available(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    p = pool(db_engine, "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]")
    p.next()
    assert (p.stats().available, p.stats().in_use) == (0, 1)
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).values(lease_expires_at=db.utcnow() - timedelta(seconds=1)))
    assert (p.stats().available, p.stats().in_use) == (1, 0)


def test_stats_search_and_counts_read_one_effective_state(db_engine: Engine, make_accounts) -> None:
    """Held, expired-lease, completed and untouched accounts: the pool's stats, the account search and the counts by
    state all say the same (pools.leases.effective_state), and an expired lease shows no holder."""
    make_accounts(4)
    p = pool(db_engine, "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]")
    held, expired, done = p.next(), p.next(), p.next()
    p.complete(done, AccountResult(success=True))
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).where(db.Account.id == expired.account_id)
                     .values(lease_expires_at=db.utcnow() - timedelta(seconds=1)))
    s = p.stats()
    assert (s.available, s.in_use, s.completed) == (2, 1, 1)
    assert {k: v for k, v in count_by_state(db_engine, pool="p").items() if v} == \
        {"available": 2, "in_use": 1, "completed": 1}
    rows = {r.id: r for r in search_accounts(db_engine, pool="p").rows}
    assert (rows[held.account_id].state, rows[held.account_id].lease_owner) == ("in_use", OWNER.run_id)
    assert (rows[expired.account_id].state, rows[expired.account_id].lease_owner) == ("available", None)
    assert rows[done.account_id].state == "completed"
    assert [r.id for r in search_accounts(db_engine, state="in_use").rows] == [held.account_id]
    assert [lease.account_id for lease in held_leases(db_engine)] == [held.account_id]
