"""Restart policies with an injected device fault (recovery off): restarts counted, the cap respected, accounts
accounted for."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.client.schemas.objects import StateType
from sqlalchemy import func, select

from emufleet.db import Account, RoutineExecution
from emufleet.groups import BotState
from flows.launch_group import LaunchResult, launch_group
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _clear_after_first_failure(fleet_home: FleetHome, instance: Any, stop: threading.Event) -> None:
    while not stop.is_set():
        with fleet_home.engine().connect() as conn:
            failed = conn.scalar(select(func.count()).select_from(RoutineExecution)
                                 .where(RoutineExecution.execution_status == "failed"))
        if failed:
            instance.clear_faults()
            return
        time.sleep(0.1)


@pytest.mark.parametrize(("mode", "cap", "fault", "clear", "restarts", "final", "completed", "failed"), [
    ("never", 3, True, False, 0, BotState.FAILED, 0, 1),
    ("on_failure", 2, True, False, 2, BotState.FAILED, 0, 3),       # the cap: 2 restarts, 3 attempts, no more
    ("on_failure", 3, True, True, 1, BotState.COMPLETED, 1, 1),     # the fault clears: one restart, then success
    ("always", 1, False, False, 1, BotState.COMPLETED, 2, 0),       # restarted after a success too, capped
])
def test_restart_policy(prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any],
                        mode: str, cap: int, fault: bool, clear: bool, restarts: int, final: BotState,
                        completed: int, failed: int) -> None:
    sim = simulator(instances=1)
    inst = sim.instances[0]
    # Recovery off: the device fault fails the attempt, and the restart policy alone decides (the recovery ladder
    # has its own tests, tests/bot/ and test_supervision.py). The failure budget is wide enough for the cap.
    name = fleet_home.group(f"restart-{mode}-{cap}", backend_options={"serials": [inst.serial]}, launch={
        "restart_policy": {"mode": mode, "max_restarts": cap, "initial_delay": "300ms", "max_delay": "1s"}},
        recovery={"enabled": False, "budget": {"failures": 10}})
    if fault:
        inst.inject_fault("black_screen")
    stop = threading.Event()
    watcher = threading.Thread(target=_clear_after_first_failure, args=(fleet_home, inst, stop), daemon=True)
    if clear:
        watcher.start()
    try:
        state = asyncio.run(launch_group(name, return_state=True))
    finally:
        stop.set()
    result = state.result(raise_on_failure=False)
    assert isinstance(result, LaunchResult)
    (row,) = result.bots
    assert row.restarts == restarts
    assert row.state == final.value
    assert (row.accounts_completed, row.accounts_failed) == (completed, failed)
    assert state.is_completed() == (final is BotState.COMPLETED)
    with fleet_home.engine().connect() as conn:
        statuses = conn.execute(select(RoutineExecution.execution_status)).scalars().all()
        leased = conn.scalar(select(func.count()).select_from(Account).where(Account.lease_token.is_not(None)))
    assert sorted(statuses) == sorted(["completed"] * completed + ["failed"] * failed)
    assert len(statuses) == restarts + 1  # one routine execution (one account) per attempt
    assert leased == 0
    # Each restart is in the bot's flow-run state history, as the Prefect UI shows it (flows/run_bot.py)
    history = asyncio.run(_state_history(f"{name}-bot0"))
    restarting = [(s.type, s.message) for s in history if s.name == "Restarting"]
    assert [message.split(":")[0] for _, message in restarting] == \
        [f"restart {n} of at most {cap}" for n in range(1, restarts + 1)], history
    assert all(kind is StateType.RUNNING for kind, _ in restarting)
    if fault:  # the reason is the attempt's error
        assert all("black" in message.lower() or "Screenshot" in message for _, message in restarting), restarting
    attempts = [s.message for s in history if s.name == "Running" and (s.message or "").startswith("attempt")]
    assert attempts == [f"attempt {n + 1}" for n in range(1, restarts + 1)], history
    assert history[-1].type is (StateType.COMPLETED if final is BotState.COMPLETED else StateType.FAILED)


async def _state_history(run_name: str) -> list[Any]:
    """The states of the flow run named ``run_name``, oldest first."""
    async with get_client() as client:
        (run,) = await client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name])))
        states = await client.read_flow_run_states(run.id)
    return sorted(states, key=lambda state: state.timestamp)
