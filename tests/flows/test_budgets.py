"""A launch's ``max_accounts`` (``adapters.budgets``): its bots play exactly that many accounts, its budget row is
gone when it ends, and ended launches' rows are pruned, on the session Prefect server and a real SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from sqlalchemy import select, update

from adapters.launch_rows import PRUNE_UNKNOWN_AFTER_S, prune_ended
from emufleet import db
from emufleet.control import ControlPlane
from emufleet.pools import AccountBudget
from emufleet.pools.budget import list_budgets
from flows.launch_group import LaunchResult, launch_group
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_three_bots_play_exactly_max_accounts_and_the_row_goes(prefect_server: PrefectServer, fleet_home: FleetHome,
                                                               simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=3)
    name = fleet_home.group("capped", instances=[0, 1, 2], bots=3, max_accounts=4,
                            backend_options={"serials": [i.serial for i in sim.instances]}, launch={"repeat": True})
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, LaunchResult) and result.launched == 3
    assert sum(row.accounts_completed for row in result.bots) == 4  # of the pool's 6
    eng = fleet_home.engine()
    try:
        with eng.connect() as conn:
            done = conn.scalars(select(db.RoutineExecution.account_id)
                                .where(db.RoutineExecution.execution_status == "completed")).all()
        assert len(done) == len(set(done)) == 4
        assert list_budgets(eng) == []  # the launch deleted its row
    finally:
        eng.dispose()


@flow(name="budget-noop", persist_result=False)
def _noop() -> None:
    return None


def test_prune_deletes_the_rows_of_ended_launches_only(prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    state = _noop(return_state=True)
    ended = str(state.state_details.flow_run_id)
    unknown_young, unknown_old = str(uuid4()), str(uuid4())

    async def scenario() -> tuple[list[str], list[str], str]:
        eng = fleet_home.engine()
        async with get_client() as client:
            pending = await client.create_flow_run(_noop)  # known to the server, not final: a live launch
            try:
                for launch_id in (ended, str(pending.id), unknown_young, unknown_old, "not-a-run-id"):
                    AccountBudget.create(eng, launch_id, 3)
                old = db.utcnow() - timedelta(seconds=PRUNE_UNKNOWN_AFTER_S + 60)
                with eng.begin() as conn:
                    conn.execute(update(db.LaunchBudget).where(db.LaunchBudget.launch_id.in_(
                        [unknown_old, "not-a-run-id"])).values(created_at=old))
                pruned = (await prune_ended(client, ControlPlane(eng))).budgets
                return sorted(pruned), sorted(s.launch_id for s in list_budgets(eng)), str(pending.id)
            finally:
                await client.delete_flow_run(pending.id)
                eng.dispose()

    pruned, left, live = asyncio.run(scenario())
    assert pruned == sorted([ended, unknown_old, "not-a-run-id"])  # final on the server, or unknown and old
    assert left == sorted([live, unknown_young])


def test_a_launch_that_fails_before_its_bots_leaves_no_row(prefect_server: PrefectServer,
                                                           fleet_home: FleetHome) -> None:
    name = fleet_home.group("broken", routine="test/no-such-routine", instances=["127.0.0.1:9"], max_accounts=2)
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_failed() and "no-such-routine" in (state.message or "")
    eng = fleet_home.engine()
    try:
        assert list_budgets(eng) == []  # made while the phases ran, deleted when one of them failed
    finally:
        eng.dispose()
