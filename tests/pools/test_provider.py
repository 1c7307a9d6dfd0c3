"""``PoolAccountProvider``: the routine engine's account actions on leases (digest §1.5, §5.6, §6)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import Engine, select

from emufleet import db
from emufleet.accounts import AccountCredentials
from emufleet.errors import DeviceError, InputError, LeaseError, NoAccountsAvailable, RoutineStopped
from emufleet.pools import HeartbeatThread, LeaseOwner, Pool, PoolAccountProvider, PoolDefinition
from emufleet.routines.accounts import AccountProvider, AccountResult

ALL = "pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n"
DEVICE: Any = object()  # the recording injector below never touches it


class Recorder:
    """An injector that records what it was asked to install (and can be told to fail)."""

    def __init__(self) -> None:
        self.injected: list[str] = []
        self.fail_with: Exception | None = None

    def __call__(self, device: Any, account: AccountCredentials) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.injected.append(account.device_account)


def provider(eng: Engine, text: str = ALL, instance: str = "bot-0", **kwargs: Any) -> PoolAccountProvider:
    p = Pool(PoolDefinition.loads(text, "p.yaml"), eng, LeaseOwner("launch-1", instance), poll_interval_s=0.02)
    return PoolAccountProvider(p, routine="demo/account_cycle", injector=kwargs.pop("injector", Recorder()),
                               **kwargs)


def row(eng: Engine, account_id: int) -> db.Account:
    with db.session(eng) as s:
        acc = s.get(db.Account, account_id)
        assert acc is not None
        return acc


def executions(eng: Engine) -> list[db.RoutineExecution]:
    with db.session(eng) as s:
        return list(s.scalars(select(db.RoutineExecution).order_by(db.RoutineExecution.id)))


def test_implements_the_protocol(db_engine: Engine) -> None:
    assert isinstance(provider(db_engine), AccountProvider)


def test_inject_next_leases_injects_and_tracks_the_execution(db_engine: Engine, make_accounts) -> None:
    ids = make_accounts(2)
    rec = Recorder()
    prov = provider(db_engine, injector=rec)
    ref = prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert ref is not None and ref.id == ids[0] and prov.current == ref and ref.pool == "p"
    assert rec.injected == ["acct_000@test.invalid"]
    [ex] = executions(db_engine)
    assert (ex.account_id, ex.routine_name, ex.execution_status, ex.bot_instance, ex.orchestration_id) == (
        ids[0], "demo/account_cycle", "started", "bot-0", "launch-1")


def test_metrics_are_never_overwritten_by_completion(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    prov = provider(db_engine)
    ref = prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert ref is not None
    prov.update_routine_metrics(packs_opened=4, wonder_picks_done=None)
    prov.update_routine_metrics(packs_opened=None, wonder_picks_done=2)
    prov.complete(None, AccountResult(success=True, packs_opened=0))
    [ex] = executions(db_engine)
    assert (ex.execution_status, ex.packs_opened, ex.wonder_picks_done) == ("completed", 4, 2)
    assert ex.completed_at is not None and ex.duration_seconds is not None
    assert row(db_engine, ref.id).pool_status == "completed" and prov.current is None


def test_each_execution_belongs_to_the_account_injected(db_engine: Engine, make_accounts) -> None:
    ids = make_accounts(2)
    prov = provider(db_engine)
    for _ in range(2):
        prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
        prov.update_routine_metrics(packs_opened=1, wonder_picks_done=None)
        prov.complete(None, AccountResult(success=True))
    assert [(e.account_id, e.packs_opened) for e in executions(db_engine)] == [(ids[0], 1), (ids[1], 1)]


def test_on_no_accounts_stop_and_continue(db_engine: Engine, make_accounts) -> None:
    prov = provider(db_engine)
    with pytest.raises(NoAccountsAvailable):
        prov.inject_next(DEVICE, timeout_s=0.05, on_no_accounts="stop")
    assert prov.inject_next(DEVICE, timeout_s=0.05, on_no_accounts="continue") is None
    assert prov.current is None


def test_on_no_accounts_wait_really_waits_until_an_account_is_returned(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    first = provider(db_engine, instance="bot-0")
    second = PoolAccountProvider(first.pool.for_owner(LeaseOwner("launch-1", "bot-1")), injector=Recorder())
    ref = first.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert ref is not None
    got: list[Any] = []
    waiting = threading.Event()

    def wait() -> None:
        waiting.set()
        got.append(second.inject_next(DEVICE, timeout_s=0.05, on_no_accounts="wait"))  # many timeout rounds

    thread = threading.Thread(target=wait)
    thread.start()
    waiting.wait(10)
    first.return_account(None, reason="done for now")
    thread.join(60)
    assert got and got[0] is not None and got[0].id == ref.id
    assert row(db_engine, ref.id).lease_instance == "bot-1"


def test_wait_is_ended_by_cancel(db_engine: Engine) -> None:
    cancel = threading.Event()
    cancel.set()
    prov = provider(db_engine, cancel=cancel)
    with pytest.raises(RoutineStopped):
        prov.inject_next(DEVICE, timeout_s=0.05, on_no_accounts="wait")


def test_injection_failure_returns_the_lease(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    rec = Recorder()
    rec.fail_with = DeviceError("offline", serial="127.0.0.1:1")
    prov = provider(db_engine, injector=rec)
    with pytest.raises(DeviceError):
        prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    acc = row(db_engine, account_id)
    assert (acc.pool_status, acc.lease_token, acc.failure_count) == ("available", None, 0)
    assert prov.current is None and executions(db_engine) == []


def test_account_id_variants_act_on_the_lease_itself(db_engine: Engine, make_accounts) -> None:
    ids = make_accounts(3)
    prov = provider(db_engine, text=ALL + "config: {retry_failed: false}")
    refs = [prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop") for _ in range(2)]
    # The second inject returned the still-current first account to the pool, then leased the first free one.
    assert [r.id for r in refs if r] == [ids[0], ids[0]]
    assert [e.execution_status for e in executions(db_engine)] == ["returned", "started"]
    current = prov.current
    assert current is not None
    prov.mark_failed(current.id, "banned")
    acc = row(db_engine, current.id)
    assert (acc.pool_status, acc.failure_count, acc.last_error) == ("failed", 1, "banned")
    with pytest.raises(LeaseError, match="not leased by this bot"):
        prov.complete(current.id, AccountResult(success=True))
    with pytest.raises(LeaseError, match="no current account"):
        prov.return_account(None)


def test_field_actions_use_the_whitelist_and_the_real_columns(db_engine: Engine, make_accounts) -> None:
    ids = make_accounts(2)
    prov = provider(db_engine)
    ref = prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert ref is not None
    prov.update_field(None, "wonder_picks", "3")              # seed name → wonder_picks_done
    prov.increment_field(ref.id, "wonder_picks", 2)
    prov.increment_field(None, "packs_opened", 1)
    prov.update_field(None, "last_used_at", "now")
    prov.update_field(None, "last_error", "x'); DROP TABLE accounts; --")
    acc = row(db_engine, ref.id)
    assert (acc.wonder_picks_done, acc.packs_opened, acc.last_error) == (5, 1, "x'); DROP TABLE accounts; --")
    assert prov.get_field(None, "wonder_picks") == 5
    assert prov.get_field(ids[1], "device_account") == "acct_001@test.invalid"  # reads need no lease
    with pytest.raises(InputError, match="not allowed"):
        prov.update_field(None, "device_password", "stolen")
    with pytest.raises(InputError, match="not allowed"):
        prov.increment_field(None, "last_error", 1)
    with pytest.raises(InputError, match="integer"):
        prov.update_field(None, "shinedust", "lots")
    with pytest.raises(InputError, match="pool_status must be one of"):
        prov.update_field(None, "pool_status", "vip")
    with pytest.raises(LeaseError, match="only under a lease"):
        prov.update_field(ids[1], "shinedust", "1")


def test_heartbeat_renews_held_leases_in_the_background(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    prov = provider(db_engine, text=ALL + "config: {lease_ttl: 600}")
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    before = row(db_engine, account_id).heartbeat_at
    beat = threading.Event()
    with HeartbeatThread(lambda: (prov.heartbeat(), beat.set()), interval_s=0.01) as thread:
        assert beat.wait(30)
    assert thread.errors == [] and thread.beats >= 1
    assert row(db_engine, account_id).heartbeat_at > before


def test_a_lost_lease_surfaces_as_lease_error(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    prov = provider(db_engine)
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    from sqlalchemy import update

    with db_engine.begin() as conn:  # expired and reclaimed by another launch
        conn.execute(update(db.Account).values(lease_token="someone-else"))
    assert prov.heartbeat() == 0
    with pytest.raises(LeaseError):
        prov.complete(None, AccountResult(success=True))
    assert executions(db_engine)[0].execution_status == "lost"
    assert row(db_engine, account_id).lease_token == "someone-else"


def test_close_returns_every_held_account(db_engine: Engine, make_accounts) -> None:
    [account_id] = make_accounts(1)
    prov = provider(db_engine)
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    prov.close()
    assert row(db_engine, account_id).pool_status == "available" and prov.current is None


def test_stats_sum_what_the_actions_recorded_when_complete_names_no_counter(db_engine: Engine,
                                                                            make_accounts) -> None:  # noqa: ANN001
    ids = make_accounts(4)
    prov = provider(db_engine)
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    prov.increment_field(None, "packs_opened", 2)
    prov.increment_field(None, "packs_opened", 1)
    prov.complete(None, AccountResult(success=True))  # IncrementAccountField counted: 3, not added twice
    assert row(db_engine, ids[0]).packs_opened == 3
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    prov.update_routine_metrics(packs_opened=4, wonder_picks_done=None)
    prov.complete(None, AccountResult(success=True))  # UpdateRoutineMetrics: 4, and the account's column grows
    assert row(db_engine, ids[1]).packs_opened == 4
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    prov.update_routine_metrics(packs_opened=9, wonder_picks_done=None)
    prov.complete(None, AccountResult(success=True, packs_opened=5, cards_found=25, stars_total=3, keep_count=1))
    prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    prov.update_routine_metrics(packs_opened=1, wonder_picks_done=None)
    prov.mark_failed(None, "stuck")  # work done before a failure still counts
    stats = prov.pool.stats()
    assert (stats.packs_opened, stats.cards_found, stats.stars_total, stats.keep_count, stats.results) == (
        3 + 4 + 5 + 1, 25, 3, 1, 4)
    assert (row(db_engine, ids[2]).packs_opened, row(db_engine, ids[3]).packs_opened) == (5, 0)


def _refuse_execution_rows(eng: Engine) -> None:
    """Make the database itself refuse the next ``routine_executions`` insert (as a full disk would)."""
    with eng.begin() as conn:
        if eng.dialect.name == "sqlite":
            conn.exec_driver_sql("CREATE TRIGGER full_disk BEFORE INSERT ON routine_executions "
                                 "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
        else:
            conn.exec_driver_sql("CREATE FUNCTION full_disk() RETURNS trigger AS $$ BEGIN "
                                 "RAISE EXCEPTION 'could not extend file: No space left on device'; END $$ "
                                 "LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER full_disk BEFORE INSERT ON routine_executions "
                                 "FOR EACH ROW EXECUTE FUNCTION full_disk()")


def test_a_failed_checkout_never_leaves_the_account_leased(db_engine: Engine, make_accounts) -> None:
    """Issue 23 item 3: the lease is committed and the account injected, then the execution record fails."""
    from emufleet.errors import DatabaseError

    (account_id,) = make_accounts(1)
    rec = Recorder()
    prov = provider(db_engine, injector=rec)
    _refuse_execution_rows(db_engine)
    with pytest.raises(DatabaseError, match="account checkout"):
        prov.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    acc = row(db_engine, account_id)
    assert (acc.pool_status, acc.lease_token) == ("available", None)  # at once, not when the lease expires
    assert prov.current is None and rec.injected == ["acct_000@test.invalid"] and executions(db_engine) == []


def test_a_search_for_wildcards_finds_them_literally(db_engine: Engine) -> None:
    """Issue 23 item 16: ``_`` and ``%`` are LIKE wildcards; a search for them matched every account."""
    from emufleet.pools.query import search_accounts
    from tests.db.fixtures import add_accounts

    add_accounts(db_engine, 3, prefix="plain")
    add_accounts(db_engine, 1, prefix="per%cent")
    found = search_accounts(db_engine, text="%", limit=50)
    assert [a.device_account for a in found.rows] == ["per%cent_000@test.invalid"]
    assert len(search_accounts(db_engine, text="_", limit=50).rows) == 4  # every name here has a real "_"
    assert search_accounts(db_engine, text="pla_n", limit=50).rows == []  # "_" no longer matches the "i" of plain
