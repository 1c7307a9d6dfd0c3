"""The quarantine rules on a real database: an outlier instance, a lone instance, an account failing everywhere."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, insert, select

from emufleet import db
from emufleet.bot import BotAccounts
from emufleet.bot.events import BotEvent, BotRef, EventKind
from emufleet.db import utcnow
from emufleet.errors import NoAccountsAvailable
from emufleet.farm import (
    FarmRules,
    Ledger,
    LedgerRow,
    QuarantineEntry,
    QuarantineSettings,
    account_verdict,
    active,
    admit,
    instance_verdict,
    is_quarantined,
    quarantine,
    release,
)
from emufleet.hosts import InstanceId
from emufleet.pools import reset_accounts
from emufleet.routines.accounts import AccountResult
from tests.pools.test_provider import ALL, DEVICE, provider


def _faults(engine: Engine, instance: str, rungs: int, give_ups: int = 0, at: datetime | None = None,
            attempts: int = 0) -> None:
    host = instance.split("/")[0]
    rows = [{"kind": "bot.recovering", "rung": "restart_app"}] * rungs
    rows += [{"kind": "bot.attempt-failed", "rung": None}] * attempts
    rows += [{"kind": "bot.gave-up", "rung": None}] * give_ups
    rows += [{"kind": "steps", "rung": None}]  # the instance was active
    with engine.begin() as conn:
        conn.execute(insert(db.FleetEvent), [{"group_name": "demo", "bot": 0, "host": host, "instance": instance,
                                              "at": at or utcnow(), **r} for r in rows])


def test_an_outlier_instance_is_quarantined_and_released(db_engine: Engine) -> None:
    for i in range(4):
        _faults(db_engine, f"local/s{i}", rungs=1)
    _faults(db_engine, "local/bad", rungs=2, give_ups=1)  # 2 + 3×1 = 5 ≥ max(3, 3 × median 1)
    assert instance_verdict(db_engine, "local/s0") is None
    reason = instance_verdict(db_engine, "local/bad")
    assert reason is not None and "5 fault(s)" in reason and "median of 1" in reason
    notified: list[QuarantineEntry] = []
    rules = FarmRules(db_engine, QuarantineSettings(), notified.append)
    rules([LedgerRow("bot.gave-up", "demo", 0, "local", "local/bad", None)])
    rules([LedgerRow("bot.gave-up", "demo", 0, "local", "local/bad", None)])  # once only
    assert [(q.kind, q.subject) for q in notified] == [("instance", "local/bad")]
    entry = is_quarantined(db_engine, "local/bad")
    assert entry is not None and entry.cooldown_until is not None and entry.cooldown_until > entry.since
    assert is_quarantined(db_engine, "local/s0") is None
    assert release(db_engine, "instance", "local/bad", by="test")
    assert not release(db_engine, "instance", "local/bad")
    assert active(db_engine) == []


def test_a_whole_fleet_in_trouble_quarantines_no_one_but_a_lone_instance_has_a_floor(db_engine: Engine) -> None:
    for i in range(4):
        _faults(db_engine, f"local/s{i}", rungs=4)
    assert instance_verdict(db_engine, "local/s0") is None  # 4 < 3 × median 4
    _faults(db_engine, "hostb/lone", rungs=1, at=utcnow() - timedelta(hours=2))  # outside the window
    settings = QuarantineSettings(min_count=2)
    assert instance_verdict(db_engine, "hostb/lone", settings) is None


def test_failed_attempts_count_as_faults(db_engine: Engine) -> None:
    for i in range(3):
        _faults(db_engine, f"local/s{i}", rungs=0)
    _faults(db_engine, "local/flaky", rungs=0, attempts=3)  # the restart policy's failures, no rung taken
    assert "3 fault(s)" in (instance_verdict(db_engine, "local/flaky") or "")
    assert instance_verdict(db_engine, "local/s0") is None


def test_only_one_active_entry_per_subject(db_engine: Engine) -> None:
    assert quarantine(db_engine, "instance", "local/x", "first")
    assert not quarantine(db_engine, "instance", "local/x", "second")
    assert [q.reason for q in active(db_engine, "instance")] == ["first"]


def test_an_account_failing_on_three_instances_is_failed_for_good(db_engine: Engine,
                                                                  make_accounts: Callable[..., list[int]]) -> None:
    (account, other) = make_accounts(2)
    with db_engine.begin() as conn:
        conn.execute(insert(db.AccountResultRecord), [
            {"account_id": account, "outcome": o, "success": False, "lease_instance": s}
            for o, s in (("failed", "s1"), ("returned", "s2"), ("failed", "s2"), ("failed", "s3"))]
            + [{"account_id": other, "outcome": "failed", "success": False, "lease_instance": "s1"}])
    assert account_verdict(db_engine, other) is None
    assert "3 different instances" in (account_verdict(db_engine, account) or "")
    notified: list[QuarantineEntry] = []
    FarmRules(db_engine, QuarantineSettings(), notified.append)(
        [LedgerRow("account.failed", "demo", 0, "local", "local/s3", None, account="acct_000@test.invalid")])
    with db_engine.connect() as conn:
        status, error = conn.execute(select(db.Account.pool_status, db.Account.last_error)
                                     .where(db.Account.id == account)).one()
    assert status == "failed" and "3 different instances" in error
    assert [(q.kind, q.subject) for q in notified] == [("account", str(account))]
    quarantine(db_engine, "account", "999999", "another account")
    assert reset_accounts(db_engine, accounts=[account]).reset == 1  # `emufleet accounts reset` ends it
    assert [q.subject for q in active(db_engine, "account")] == ["999999"]


def test_admit_waits_for_the_cool_down_then_asks_the_health_check(db_engine: Engine) -> None:
    now = utcnow()
    assert admit(db_engine, "local/s1", lambda: "never asked") is None  # not quarantined
    quarantine(db_engine, "instance", "local/s1", "5 fault(s)", cooldown_s=900, now=now)
    asked: list[str] = []

    def sick() -> str:
        asked.append("sick")
        return "screen is black"

    assert "cool-down ends in 15 min" in (admit(db_engine, "local/s1", sick, now=now) or "")
    assert asked == []  # no check during the cool-down
    later = now + timedelta(minutes=16)
    assert "health check after the cool-down failed: screen is black" in (
        admit(db_engine, "local/s1", sick, now=later) or "")
    assert is_quarantined(db_engine, "local/s1") is not None
    assert admit(db_engine, "local/s1", lambda: None, now=later) is None
    assert is_quarantined(db_engine, "local/s1") is None


def test_an_account_failing_on_two_instances_is_not_retried_for_ever(db_engine: Engine,
                                                                      make_accounts: Callable[..., list[int]]) -> None:
    """Through real leases (a pool that retries failures 100 times), the ledger and its rules: the account fails on
    one instance and comes back; it fails on a second and is marked failed, quarantined, announced, not leased."""
    (account,) = make_accounts(1)
    notified: list[QuarantineEntry] = []
    ledger = Ledger(db_engine, on_written=FarmRules(db_engine, QuarantineSettings(account_instances=2),
                                                     notified.append))
    pool = ALL + "config: {retry_failed: true, max_failures: 100}\n"
    for serial, status in (("s0", "available"), ("s1", "failed")):
        instance = InstanceId("local", serial)
        bot = BotAccounts([provider(db_engine, pool, instance=instance.key)])  # a launch's lease: host/serial
        ref = bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
        assert ref is not None and ref.id == account
        bot.complete(None, AccountResult(success=False, error="the game refused the account"))
        ledger.observer("demo", 0, instance, "launch-1").event(BotEvent(
            EventKind.ACCOUNT_FAILED, BotRef("demo", 0, instance, account=ref.device_account), {}))
        assert ledger.flush() == 1
        with db_engine.connect() as conn:
            state, error = conn.execute(select(db.Account.pool_status, db.Account.last_error)).one()
        assert state == status, (serial, state, error)
    assert "failed on 2 different instances within a day (local/s0, local/s1)" in error
    assert [(q.kind, q.subject) for q in notified] == [("account", str(account))]
    third = BotAccounts([provider(db_engine, pool, instance="local/s2")])
    with pytest.raises(NoAccountsAvailable):
        third.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
