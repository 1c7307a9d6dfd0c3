"""The farm on real launches (docs/farm.md): the ledger a launch writes, the instance settings check before a bot
starts, a schedule window that closes before the first account, and the quarantine of instances and accounts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from emufleet import db
from emufleet.accounts.xmlfile import read_account_file
from emufleet.farm import StatsFilter, active, is_quarantined, list_launches, quarantine, series
from emufleet.pools import reset_accounts
from flows.launch_group import launch_group
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_a_launch_fills_the_ledger_the_dashboard_reads(prefect_server: PrefectServer, fleet_home: FleetHome,
                                                       simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    name = fleet_home.group("ledger", backend_options={"serials": [serial]}, launch={"repeat": True})
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_completed(), state.message
    eng = fleet_home.engine()
    with eng.connect() as conn:
        rows = conn.execute(select(db.FleetEvent.kind, db.FleetEvent.count, db.FleetEvent.instance,
                                   db.FleetEvent.launch_id)).all()
    kinds = [r.kind for r in rows]
    assert kinds.count("account.completed") == 6 and "bot.started" in kinds and "bot.finished" in kinds
    (bot,) = state.result().bots
    assert bot.steps_done >= 6 * 4  # four steps per account, more when a step was retried on a busy machine
    assert sum(r.count for r in rows if r.kind == "steps") == bot.steps_done  # every step the bot did, once
    assert {r.instance for r in rows} == {f"local/{serial}"}
    assert {r.launch_id for r in rows} == {str(state.result().flow_run_id)}
    (launch,) = list_launches(eng, group=name)
    assert launch.launch_id == str(state.result().flow_run_id)
    assert (launch.final_state, launch.bots, launch.accounts_completed) == ("Completed", 1, 6)
    assert launch.ended_at is not None and launch.ended_at >= launch.started_at
    day = series(eng, ["accounts_completed", "steps_per_s"], "day", where=StatsFilter(group=name))
    assert day["accounts_completed"].total() == pytest.approx(6)
    assert day["steps_per_s"].total() == pytest.approx(bot.steps_done)


def test_a_720x1280_instance_is_refused_with_the_reason_or_fixed(prefect_server: PrefectServer,
                                                                 fleet_home: FleetHome,
                                                                 simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    from emufleet.device import connect

    connect(serial).shell("wm size 720x1280", check=True)
    strict = fleet_home.group("strict", backend_options={"serials": [serial]},
                              launch={"instance_check": {"fix": False}})
    refused = asyncio.run(launch_group(strict, return_state=True))
    assert refused.is_failed()
    (history,) = list_launches(fleet_home.engine(), group=strict)
    assert history.final_state == "Failed" and "1 of 1 bots failed" in (history.message or "")
    result = refused.result(raise_on_failure=False)
    (bot,) = result.bots
    assert bot.state == "failed"
    assert "resolution is 720x1280, the template set needs 540x960" in (bot.error or ""), bot
    fixing = fleet_home.group("fixing", backend_options={"serials": [serial]})
    fixed = asyncio.run(launch_group(fixing, return_state=True))
    assert fixed.is_completed(), fixed.message
    assert connect(serial).window_size() == (540, 960)


def test_a_window_that_closes_within_the_margin_takes_no_account(prefect_server: PrefectServer,
                                                                 fleet_home: FleetHome,
                                                                 simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    now = datetime.now(UTC)
    closes = now + timedelta(minutes=2)
    window = f"{(now - timedelta(minutes=5)):%H:%M}-{closes:%H:%M}"
    name = fleet_home.group("closing", backend_options={"serials": [sim.instances[0].serial]},
                            launch={"repeat": True}, schedule={"timezone": "UTC", "windows": [window],
                                                               "margin": "5m"})
    state = asyncio.run(launch_group(name, return_state=True))
    result = state.result(raise_on_failure=False)
    assert state.is_completed(), state.message  # a clean end: the bot ran out of time, nothing failed
    assert sum(b.accounts_completed for b in result.bots) == 0
    with fleet_home.engine().connect() as conn:
        leased = conn.execute(select(db.Account.id).where(db.Account.pool_status != "available")).all()
    assert leased == []  # no account was taken, none is left leased


def test_a_quarantined_instance_is_skipped_and_a_healthy_one_returns_after_its_cool_down(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=2)
    first, second = (i.serial for i in sim.instances)
    name = fleet_home.group("careful", instances=[first, second], bots=1,
                            backend_options={"serials": [first, second]})
    eng = fleet_home.engine()
    quarantine(eng, "instance", f"local/{first}", "9 fault(s) in the last 60 min", cooldown_s=900)
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_completed(), state.message
    result = state.result()
    assert [b.instance.key for b in result.bots] == [f"local/{second}"]
    assert [i.key for i in result.skipped] == [f"local/{first}"]
    assert is_quarantined(eng, f"local/{first}") is not None
    with eng.begin() as conn:  # the cool-down is over: the next launch probes the instance and takes it back
        conn.execute(update(db.Quarantine).values(cooldown_until=db.utcnow() - timedelta(minutes=1)))
    again = asyncio.run(launch_group(name, return_state=True))
    assert again.is_completed(), again.message
    assert [b.instance.key for b in again.result().bots] == [f"local/{first}"]
    assert is_quarantined(eng, f"local/{first}") is None


def _clear_when_given_up(eng: Any, instance: Any, key: str, stop: threading.Event) -> None:
    """The fault clears once the bot on ``key`` gave up (its ledger is flushed before its flow run ends): the heal's
    health check after the cool-down then finds a healthy device."""
    while not stop.is_set():
        with eng.connect() as conn:
            if conn.scalar(select(func.count()).select_from(db.FleetEvent).where(
                    db.FleetEvent.kind == "bot.gave-up", db.FleetEvent.instance == key)):
                instance.clear_faults()
                return
        time.sleep(0.05)


def test_a_bot_that_gave_up_is_healed_and_an_instance_that_keeps_giving_up_is_quarantined_then_skipped(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    """Issue 24: in a long launch, after a give-up, a cool-down and a passing health check the launch starts a new
    bot there; the give-ups count against the instance, and once it keeps giving up it is quarantined and the next
    launch skips it (docs/farm.md, "Healing" and "Quarantine")."""
    sim = simulator(instances=2)
    faulty, healthy = sim.instances
    key = f"local/{faulty.serial}"
    settings: dict[str, Any] = {
        "backend_options": {"serials": [faulty.serial, healthy.serial]},
        "recovery": {"budget": {"failures": 1}},  # the first fault spends it: the bot gives up
        "quarantine": {"min_count": 6, "give_up_weight": 3}}  # two give-ups, not one
    alone = fleet_home.group("healing", instances=[faulty.serial], bots=1, **settings,
                             launch={"repeat": True, "heal": {"cooldown": "2s", "max_per_instance": 1}})
    eng = fleet_home.engine()
    faulty.inject_fault("black_screen")
    stop = threading.Event()
    clearer = threading.Thread(target=_clear_when_given_up, args=(eng, faulty, key, stop), daemon=True)
    clearer.start()
    try:
        healed = asyncio.run(launch_group(alone, return_state=True))
    finally:
        stop.set()
        clearer.join(timeout=10)
    assert healed.is_completed(), healed.message  # the failed bot was replaced: the bots whose ends stand completed
    result = healed.result()
    assert result.healed == {0: 1}
    first, second = result.bots
    assert (first.bot, first.instance.key, first.state) == (0, key, "failed") and first.gave_up
    assert (second.bot, second.instance.key, second.state) == (1, key, "completed") and second.accounts_completed >= 1
    assert is_quarantined(eng, key) is None  # one give-up: 3 faults, under the group's 6
    reset_accounts(eng, everything=True)
    both = fleet_home.group("healing-both", instances=[faulty.serial, healthy.serial], bots=2, **settings,
                            launch={"repeat": True, "heal": {"cooldown": "2s", "max_per_instance": 1}})
    faulty.inject_fault("black_screen")  # it comes back, and stays
    again = asyncio.run(launch_group(both, return_state=True))
    assert again.is_failed()
    assert again.result(raise_on_failure=False).healed == {}, "a quarantined instance gets no new bot"
    entry = is_quarantined(eng, key)
    assert entry is not None and entry.reason.startswith("6 fault(s)"), entry
    faulty.clear_faults()  # healthy again, but in its cool-down: the next launch skips it
    skipped = asyncio.run(launch_group(both, return_state=True))
    assert skipped.is_completed(), skipped.message
    result = skipped.result()
    assert [i.key for i in result.skipped] == [key]
    assert [b.instance.key for b in result.bots] == [f"local/{healthy.serial}"]


def test_an_account_refused_on_two_instances_is_failed_quarantined_and_not_leased_again(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    """Issue 24: the game refuses one account (the simulator's ``refused_account`` fault, on every instance: it is
    the account's fault). It fails on a first instance and comes back (the pool retries failures 5 times); it fails
    on a second and is marked failed with the reason, quarantined and never leased again; the others complete."""
    sim = simulator(instances=2)
    first, second = (f"local/{i.serial}" for i in sim.instances)
    refused = read_account_file(fleet_home.root / "accounts" / f"{fleet_home.accounts[2]}.xml").device_account
    for instance in sim.instances:
        instance.inject_fault("refused_account", account=refused)
    pool = fleet_home.root / "pools" / "test.yaml"
    definition = yaml.safe_load(pool.read_text(encoding="utf-8"))
    definition["config"]["max_failures"] = 5
    pool.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    settings: dict[str, Any] = {"routine": "test/login", "quarantine": {"account_instances": 2},
                                "backend_options": {"serials": [i.serial for i in sim.instances]}}
    eng = fleet_home.engine()

    def plays() -> list[tuple[str, str | None, bool]]:
        with eng.connect() as conn:
            return [(r.device_account, r.lease_instance, r.success) for r in conn.execute(
                select(db.Account.device_account, db.AccountResultRecord.lease_instance,
                       db.AccountResultRecord.success).join(db.Account).order_by(db.AccountResultRecord.id))]

    # the first launch plays six accounts on the first instance: the refused one fails once, five complete
    alone = fleet_home.group("refusing-first", instances=[sim.instances[0].serial], max_accounts=6,
                             launch={"repeat": True}, **settings)
    state = asyncio.run(launch_group(alone, return_state=True))
    assert state.is_completed(), state.message
    assert [p for p in plays() if not p[2]] == [(refused, first, False)]
    assert active(eng, "account") == []  # one instance: the pool retries it
    # the second launch, on the second instance, has only the refused account left: it fails there, for good
    other = fleet_home.group("refusing-second", instances=[sim.instances[1].serial], launch={"repeat": True},
                             **settings)
    state = asyncio.run(launch_group(other, return_state=True))
    assert state.is_completed(), state.message
    assert [p for p in plays() if p[0] == refused] == [(refused, first, False), (refused, second, False)]
    assert sum(p[2] for p in plays()) == 5  # the other accounts completed
    with eng.connect() as conn:
        account_id, status, error = conn.execute(select(db.Account.id, db.Account.pool_status, db.Account.last_error)
                                                 .where(db.Account.device_account == refused)).one()
    assert status == "failed"
    assert f"failed on 2 different instances within a day ({first}, {second})" in (error or ""), error
    (entry,) = active(eng, "account")
    assert entry.subject == str(account_id) and entry.reason == error
