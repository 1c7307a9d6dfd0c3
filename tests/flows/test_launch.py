"""A full launch on the session Prefect server: three simulated devices, a real SQLite pool, real locks."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy import select

from adapters.locks import limit_name
from adapters.registry import bot_runs
from emufleet.db import Account, RoutineExecution
from emufleet.groups import BotState, LaunchOverrides
from emufleet.hosts import LOCAL_HOST, InstanceId
from flows.control import status
from flows.launch_group import LaunchResult, launch_group
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def serials(sim: Any) -> list[str]:
    return [inst.serial for inst in sim.instances]


async def lock_slots(serial_list: list[str]) -> list[int]:
    async with get_client() as client:
        return [(await client.read_global_concurrency_limit_by_name(limit_name(InstanceId(LOCAL_HOST, s)))).active_slots
                for s in serial_list]


async def step_runs(group: str, want: int) -> tuple[list[Any], list[Any]]:
    """The group's bot runs and their step task runs, once ``want`` steps are recorded."""
    async with get_client() as client:
        bots = await bot_runs(client, group, live=False)
        steps: list[Any] = []
        for _ in range(100):  # the server records task runs from events, a moment after they happen
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[b.id for b in bots])), limit=200)
            steps = [t for t in runs if " step " in t.name]
            if len(steps) >= want:
                break
            await asyncio.sleep(0.1)
        return bots, steps


def test_three_bots_complete_every_account(prefect_server: PrefectServer, fleet_home: FleetHome,
                                           simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=3)
    name = fleet_home.group("full", instances=[0, 1, 2], bots=3, backend_options={"serials": serials(sim)},
                            launch={"repeat": True, "stagger": "300ms"})
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, LaunchResult)
    assert result.launched == 3 and result.success
    assert sorted(row.instance.key for row in result.bots) == sorted(f"local/{s}" for s in serials(sim))
    assert sum(row.accounts_completed for row in result.bots) == 6
    with fleet_home.engine().connect() as conn:
        accounts = conn.execute(select(Account.device_account, Account.pool_status, Account.lease_token)).all()
        executions = conn.execute(select(RoutineExecution.account_id, RoutineExecution.execution_status,
                                         RoutineExecution.bot_instance, RoutineExecution.orchestration_id)).all()
    assert {a.pool_status for a in accounts} == {"completed"}
    assert all(a.lease_token is None for a in accounts)  # no lease left
    assert len(executions) == 6 and {e.execution_status for e in executions} == {"completed"}
    assert len({e.account_id for e in executions}) == 6  # each account processed once, by the bot that leased it
    assert {e.bot_instance for e in executions} <= {f"local/{s}" for s in serials(sim)}  # host/serial
    assert {e.orchestration_id for e in executions} == {str(result.flow_run_id)}
    assert asyncio.run(lock_slots(serials(sim))) == [0, 0, 0]

    async def bot_states() -> list[str]:
        async with get_client() as client:
            return sorted(r.state.type.value for r in await bot_runs(client, name, live=False))

    assert asyncio.run(bot_states()) == ["COMPLETED"] * 3
    finished = asyncio.run(status(name, live=False))
    assert [s.state for s in finished] == [BotState.COMPLETED] * 3
    assert sum(s.steps_done for s in finished) == 6 * 4  # four top-level steps per account

    bots, steps = asyncio.run(step_runs(name, 6 * 4))
    assert len(steps) >= 6 * 4 and all(t.tags == [] for t in steps)  # untagged: no concurrency request per step
    # the bot runs keep theirs: the claim tag instance:<host>:<serial>
    assert all(limit_name(InstanceId.parse(b.labels["emufleet.instance"])) in b.tags for b in bots)
    starts = sorted(b.start_time for b in bots)  # stagger is between bots *starting*, whatever creation takes
    assert all((later - earlier).total_seconds() >= 0.3 for earlier, later in itertools.pairwise(starts))


def test_stagger_zero_starts_the_bots_together(prefect_server: PrefectServer, fleet_home: FleetHome,
                                               simulator: Callable[..., Any]) -> None:
    """No bot takes its first step before every bot's run is running (the start barrier)."""
    sim = simulator(instances=3)
    name = fleet_home.group("together", instances=[0, 1, 2], bots=3, max_accounts=3,
                            backend_options={"serials": serials(sim)}, launch={"stagger": 0})
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_completed(), state.message
    bots, steps = asyncio.run(step_runs(name, 3 * 4))
    assert len(bots) == 3 and all(b.start_time for b in bots)
    last_running = max(b.start_time for b in bots)
    firsts = [t.start_time for t in steps if " step 0:" in t.name]
    assert len(firsts) >= 3 and min(firsts) >= last_running


def test_unknown_pool_fails_fast(prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    name = fleet_home.group("nopool", instances=["127.0.0.1:9"])
    state = asyncio.run(launch_group(name, LaunchOverrides(pools=["missing"]), return_state=True))
    assert state.is_failed()
    assert "no pool named 'missing'" in state.message and "known: test" in state.message


def test_a_required_routine_variable_without_value_fails_the_launch_before_any_bot(
        prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    (fleet_home.root / "routines" / "test" / "needs.yaml").write_text(
        "version: 1\nconfig:\n  - {name: target, type: text, required: true}\n"
        "steps:\n  - {action: Sleep, duration: 1ms}\n", encoding="utf-8")
    name = fleet_home.group("needy", routine="test/needs", instances=["127.0.0.1:9"])
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_failed()
    assert "needs.yaml:3:" in state.message and "missing_variable: 'target' is required" in state.message
    assert asyncio.run(status(name, live=False)) == []  # no bot was started to fail and restart in vain
    ok = asyncio.run(launch_group(name, LaunchOverrides(routine_config={"target": "x"}, instances=["127.0.0.1:9"],
                                                         emulator_timeout=1), return_state=True))
    assert "missing_variable" not in (ok.message or "")  # validation passes; only the absent device fails it


def test_validate_emulators_names_unknown_instances(prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    name = fleet_home.group("ghosts", instances=[0, 5], bots=1, backend_options={"serials": ["127.0.0.1:9"]})
    state = asyncio.run(launch_group(name, return_state=True))
    assert state.is_failed()
    assert "backend 'adb' of host 'local' has no instance 5 (it has: 0)" in state.message


def test_run_bot_alone_takes_and_releases_its_own_lock(prefect_server: PrefectServer, fleet_home: FleetHome,
                                                      simulator: Callable[..., Any]) -> None:
    from emufleet.groups import RestartPolicy
    from flows.run_bot import BotSpec, BotStatus, run_bot

    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    spec = BotSpec(group="solo", bot=0, instance=serial, routine="test/cycle", pools=["test"],
                   restart_policy=RestartPolicy(mode="never", max_restarts=0), repeat=True)
    state = asyncio.run(run_bot(spec, return_state=True))
    assert state.is_completed(), state.message
    result = state.result()
    assert isinstance(result, BotStatus)
    assert result.accounts_completed == 6 and result.state is BotState.COMPLETED
    assert 0 < result.engine_s <= result.step_s <= result.wall_s
    assert asyncio.run(lock_slots([serial])) == [0]


def test_a_launch_stops_the_simulated_instances_it_started(prefect_server: PrefectServer, fleet_home: FleetHome,
                                                            adb_server: Any, free_base_port: int) -> None:
    from emufleet.device.backends import get_backend
    from emufleet.sim import daemon

    options = {"instances": 2, "scenario": "demo", "base_port": free_base_port}
    backend = get_backend("simulator", **options)
    backend.start(0, timeout_s=60)  # already running before the launch: it must stay up
    try:
        name = fleet_home.group("detached", backend="simulator", backend_options=options, instances=[0, 1],
                                bots=2, max_accounts=2)
        state = asyncio.run(launch_group(name, return_state=True))
        assert state.is_completed(), state.message
        assert backend.is_running(0) and not backend.is_running(1)
        assert [r.serials for r in daemon.read_records()] == [[backend.serial(0)]]  # and sim status agrees
        keep = fleet_home.group("warm", backend="simulator", backend_options=options, instances=[1], bots=1,
                                max_accounts=1, launch={"stop_instances": "never"})
        assert asyncio.run(launch_group(keep, return_state=True)).is_completed()
        assert backend.is_running(1)
    finally:
        backend.stop(0)
        backend.stop(1)
