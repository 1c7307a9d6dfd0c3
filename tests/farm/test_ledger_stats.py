"""The ledger, the throughput series and the launch history on a real database (SQLite, PostgreSQL when set)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from emufleet import db
from emufleet.bot.events import BotEvent, BotRef, EventKind
from emufleet.errors import InputError
from emufleet.farm import (
    Ledger,
    StatsFilter,
    forecast,
    list_launches,
    record_end,
    record_start,
    series,
)
from emufleet.groups import BotStatus
from emufleet.hosts import InstanceId

NOW = datetime(2026, 12, 7, 12, 30)


def _event(kind: EventKind, serial: str = "127.0.0.1:16384", **payload: object) -> BotEvent:
    return BotEvent(kind, BotRef("demo", 0, InstanceId("hosta", serial), account="acct_000@test.invalid"), payload)


def test_observer_rows_reach_the_ledger_in_one_flush(db_engine: Engine) -> None:
    ledger = Ledger(db_engine)
    observer = ledger.observer("demo", 0, InstanceId("hosta", "127.0.0.1:16384"), "launch-1", steps_every_s=0)
    observer.event(_event(EventKind.RECOVERING, rung="restart_app", fault="frozen", reason="fault"))
    observer.event(_event(EventKind.HEARTBEAT, steps_done=40))
    observer.status(BotStatus(group="demo", bot=0, instance="127.0.0.1:16384", steps_done=55))
    observer.event(_event(EventKind.HEARTBEAT, steps_done=52))  # a report that arrived late: no step counted twice
    observer.event(_event(EventKind.ACCOUNT_COMPLETED, pool="demo"))
    observer.event(_event(EventKind.ATTEMPT_FAILED, attempt=1, error="step 2 failed"))
    observer.event(_event(EventKind.FINISHED, state="completed", steps_done=60))
    assert ledger.flush() == 7
    with db_engine.connect() as conn:
        rows = conn.execute(select(db.FleetEvent.kind, db.FleetEvent.count, db.FleetEvent.rung,
                                   db.FleetEvent.instance, db.FleetEvent.account).order_by(db.FleetEvent.id)).all()
    kinds = [r[0] for r in rows]
    assert kinds == ["bot.recovering", "steps", "steps", "account.completed", "bot.attempt-failed", "steps",
                     "bot.finished"]
    assert [r[1] for r in rows if r[0] == "steps"] == [40, 15, 5]  # deltas of the cumulative counter
    assert rows[0][2] == "restart_app" and rows[0][3] == "hosta/127.0.0.1:16384"
    assert rows[3][4] == "acct_000@test.invalid"
    assert ledger.flush() == 0


def test_a_failed_write_keeps_the_rows(tmp_path: object, db_engine: Engine) -> None:
    broken = db.engine(f"sqlite:///{tmp_path}/nowhere/x.db")  # its folder does not exist: every write fails
    ledger = Ledger(broken)
    ledger.observer("demo", 0, InstanceId("local", "s"), None).event(_event(EventKind.GAVE_UP, reason="budget"))
    assert ledger.flush() == 0
    ledger.engine = db_engine
    assert ledger.flush() == 1


def _ledger(engine: Engine, rows: list[dict[str, object]]) -> None:
    base = {"group_name": "demo", "bot": 0, "host": "local", "instance": "local/s0", "launch_id": "L1", "count": 1,
            "rung": None}  # executemany takes the first row's keys: every row has them all
    with engine.begin() as conn:
        conn.execute(insert(db.FleetEvent), [{**base, **r} for r in rows])


def test_series_buckets_rates_and_filters(db_engine: Engine, make_accounts: Callable[..., list[int]]) -> None:
    _ledger(db_engine, [
        {"kind": "account.completed", "at": NOW - timedelta(minutes=50)},
        {"kind": "account.completed", "at": NOW - timedelta(minutes=20)},
        {"kind": "account.completed", "at": NOW - timedelta(minutes=20), "instance": "hostb/s1", "host": "hostb",
         "group_name": "other"},
        {"kind": "account.failed", "at": NOW - timedelta(minutes=5)},
        {"kind": "steps", "at": NOW - timedelta(minutes=3), "count": 600},
        {"kind": "bot.recovering", "at": NOW - timedelta(minutes=3), "rung": "restart_app"},
        {"kind": "bot.recovering", "at": NOW - timedelta(minutes=2), "rung": "routine"},
        {"kind": "account.completed", "at": NOW - timedelta(days=2)},  # outside the day
    ])
    (account,) = make_accounts(1)
    record_start(db_engine, "L1", "demo", at=NOW - timedelta(hours=1))
    with db_engine.begin() as conn:
        conn.execute(insert(db.AccountResultRecord), [
            {"account_id": account, "pool_name": "demo", "outcome": "completed", "success": True, "packs_opened": 3,
             "lease_owner": "L1", "lease_instance": "local/s0", "recorded_at": NOW - timedelta(minutes=20)},
            {"account_id": account, "pool_name": "demo", "outcome": "completed", "success": True, "packs_opened": 5,
             "lease_owner": "L2", "lease_instance": "s9", "recorded_at": NOW - timedelta(minutes=20)},
            # written before leases recorded the host: a bare serial, its host known from the ledger (hostb/s1)
            {"account_id": account, "pool_name": "demo", "outcome": "completed", "success": True, "packs_opened": 7,
             "lease_owner": "L3", "lease_instance": "s1", "recorded_at": NOW - timedelta(minutes=20)}])
    day = series(db_engine, ["accounts_completed", "accounts_failed", "steps_per_s", "recoveries", "packs_opened"],
                 "day", now=NOW)
    done = day["accounts_completed"]
    assert len(done.values) == 24 and done.bucket_s == 3600
    assert done.total() == pytest.approx(3)  # the two-day-old one is outside the window
    assert day["accounts_failed"].total() == pytest.approx(1)
    assert day["steps_per_s"].total() == pytest.approx(600)
    assert day["steps_per_s"].values[-1] == pytest.approx(600 / 3600)
    assert {k: sum(v) for k, v in day["recoveries"].breakdown.items()} == {"restart_app": 1.0, "routine": 1.0}
    assert day["packs_opened"].total() == pytest.approx(15)
    for where, packs in ((StatsFilter(instance="local/s0"), 3), (StatsFilter(host="local"), 3),
                         (StatsFilter(host="hostb"), 7), (StatsFilter(instance="hostb/s1"), 7),
                         (StatsFilter(instance="local/s1"), 0)):
        assert series(db_engine, ["packs_opened"], "day", now=NOW, where=where)["packs_opened"].total() \
            == pytest.approx(packs), where
    demo = series(db_engine, ["accounts_completed", "packs_opened"], "hour", now=NOW,
                  where=StatsFilter(group="demo"))
    assert demo["accounts_completed"].total() == pytest.approx(2)
    assert demo["packs_opened"].total() == pytest.approx(3)  # only the launch of group demo (L1)
    assert len(demo["accounts_completed"].values) == 12
    hostb = series(db_engine, ["accounts_completed"], "week", now=NOW, where=StatsFilter(host="hostb"))
    assert hostb["accounts_completed"].total() == pytest.approx(1)
    with pytest.raises(InputError, match="window"):
        series(db_engine, ["accounts_completed"], "year", now=NOW)
    with pytest.raises(InputError, match="unknown metric"):
        series(db_engine, ["nope"], "day", now=NOW)


def test_history_counts_what_each_launch_did(db_engine: Engine, make_accounts: Callable[..., list[int]]) -> None:
    ids = make_accounts(3)
    record_start(db_engine, "L1", "demo", bots=2, at=NOW - timedelta(hours=2))
    record_start(db_engine, "L1", "demo", bots=9, at=NOW)  # a retried start keeps the first
    record_start(db_engine, "L2", "other", at=NOW - timedelta(hours=1))
    assert record_end(db_engine, "L1", "Completed", "2 accounts", at=NOW - timedelta(hours=1, minutes=30))
    assert not record_end(db_engine, "unknown", "Completed")
    with db_engine.begin() as conn:
        conn.execute(insert(db.AccountResultRecord), [
            {"account_id": ids[0], "outcome": "completed", "success": True, "packs_opened": 2, "lease_owner": "L1"},
            {"account_id": ids[1], "outcome": "failed", "success": False, "packs_opened": None, "lease_owner": "L1"},
            {"account_id": ids[2], "outcome": "completed", "success": True, "packs_opened": 1, "lease_owner": "L2"}])
    _ledger(db_engine, [{"kind": "bot.recovering", "rung": "reconnect", "at": NOW},
                        {"kind": "bot.gave-up", "at": NOW}])
    newest, oldest = list_launches(db_engine)
    assert (newest.launch_id, newest.final_state) == ("L2", None)
    assert (oldest.launch_id, oldest.bots, oldest.final_state) == ("L1", 2, "Completed")
    assert (oldest.accounts_completed, oldest.accounts_failed, oldest.packs_opened) == (1, 1, 2)
    assert oldest.recoveries == {"reconnect": 1} and oldest.gave_up == 1
    assert oldest.duration_s == pytest.approx(1800)
    assert [s.launch_id for s in list_launches(db_engine, group="other")] == ["L2"]
    assert [s.launch_id for s in list_launches(db_engine, since=NOW - timedelta(minutes=90))] == ["L2"]


def test_forecast_at_the_last_hours_rate(db_engine: Engine, make_accounts: Callable[..., list[int]]) -> None:
    (account,) = make_accounts(1)
    with db_engine.begin() as conn:
        conn.execute(insert(db.AccountResultRecord), [
            {"account_id": account, "pool_name": "demo", "outcome": "completed", "success": True,
             "recorded_at": NOW - timedelta(minutes=m)} for m in (10, 20, 30, 40, 90)])
    eta = forecast(db_engine, "demo", 8, now=NOW)
    assert eta.per_hour == pytest.approx(4) and eta.eta_s == pytest.approx(2 * 3600)
    assert forecast(db_engine, "empty", 8, now=NOW).eta_s is None
