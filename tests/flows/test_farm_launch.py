"""The farm on real launches (docs/farm.md): the ledger a launch writes, the instance settings check before a bot
starts, and a schedule window that closes before the first account."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from emufleet import db
from emufleet.farm import StatsFilter, is_quarantined, list_launches, quarantine, series
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
    assert sum(r.count for r in rows if r.kind == "steps") == 6 * 4
    assert {r.instance for r in rows} == {f"local/{serial}"}
    assert {r.launch_id for r in rows} == {str(state.result().flow_run_id)}
    (launch,) = list_launches(eng, group=name)
    assert launch.launch_id == str(state.result().flow_run_id)
    assert (launch.final_state, launch.bots, launch.accounts_completed) == ("Completed", 1, 6)
    assert launch.ended_at is not None and launch.ended_at >= launch.started_at
    day = series(eng, ["accounts_completed", "steps_per_s"], "day", where=StatsFilter(group=name))
    assert day["accounts_completed"].total() == pytest.approx(6)
    assert day["steps_per_s"].total() == pytest.approx(24)


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
    assert [b.instance for b in result.bots] == [f"local/{second}"]
    assert result.skipped == [f"local/{first}"]
    assert is_quarantined(eng, f"local/{first}") is not None
    with eng.begin() as conn:  # the cool-down is over: the next launch probes the instance and takes it back
        conn.execute(update(db.Quarantine).values(cooldown_until=db.utcnow() - timedelta(minutes=1)))
    again = asyncio.run(launch_group(name, return_state=True))
    assert again.is_completed(), again.message
    assert [b.instance for b in again.result().bots] == [f"local/{first}"]
    assert is_quarantined(eng, f"local/{first}") is None
