"""Two launches wanting one instance (every on_conflict policy), stop/cancel mid-step, pause/resume."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.flow_runs import aresume_flow_run
from prefect.states import State
from sqlalchemy import select

from adapters.locks import limit_name
from adapters.registry import bot_runs, launch_runs
from emufleet.db import Account, RoutineExecution, utcnow
from emufleet.groups import BotState, BotStatus
from emufleet.hosts import LOCAL_HOST, InstanceId
from flows.control import pause, resume, status, stop
from flows.launch_group import LaunchResult, launch_group
from flows.server import PrefectServer
from tests.fleet import REPO, FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


async def until(check: Callable[[], Awaitable[Any]], timeout_s: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}")


async def bot_in_step(group: str, step_prefix: str = "1:", state: BotState = BotState.RUNNING) -> BotStatus | None:
    bots = await status(group)
    return next((b for b in bots if b.state is state and (b.step or "").startswith(step_prefix)), None)


async def slots(serial: str) -> int:
    async with get_client() as client:
        try:
            name = limit_name(InstanceId(LOCAL_HOST, serial))
            return (await client.read_global_concurrency_limit_by_name(name)).active_slots
        except ObjectNotFound:  # never locked
            return 0


def result_of(state: State) -> LaunchResult:
    result = state.result(raise_on_failure=False)
    assert isinstance(result, LaunchResult), state
    return result


def holder_group(fleet_home: FleetHome, name: str, serial: str) -> str:
    return fleet_home.group(name, routine="test/long_step", backend_options={"serials": [serial]})


def no_leases(fleet_home: FleetHome) -> bool:
    with fleet_home.engine().connect() as conn:
        return all(token is None for token in conn.execute(select(Account.lease_token)).scalars())


@pytest.mark.parametrize("policy", ["skip", "abort", "cancel", "ask"])
def test_two_launches_want_one_instance(prefect_server: PrefectServer, fleet_home: FleetHome,
                                        simulator: Callable[..., Any], policy: str) -> None:
    sim = simulator(instances=2)
    s0, s1 = (inst.serial for inst in sim.instances)
    holder = holder_group(fleet_home, f"hold-{policy}", s0)
    wanted = [0] if policy == "cancel" else [0, 1]
    taker = fleet_home.group(f"take-{policy}", instances=wanted, backend_options={"serials": [s0, s1]},
                             launch={"on_conflict": policy, "emulator_timeout": "30s"})

    async def scenario() -> tuple[State, State]:
        first = asyncio.create_task(launch_group(holder, return_state=True))
        await until(lambda: bot_in_step(holder), what="the holder's long step")
        second = asyncio.create_task(launch_group(taker, return_state=True))
        if policy == "ask":
            async with get_client() as client:
                paused = await until(lambda: _paused_launch(client, taker), what="the ask pause")
            await aresume_flow_run(paused, run_input={"action": "skip"})
        taken = await second
        if policy != "cancel":
            assert await slots(s0) == 1  # the holder still has its instance
            await stop(holder)
        return await first, taken

    held, taken = asyncio.run(scenario())
    first = result_of(held)
    if policy == "abort":
        assert taken.is_failed() and "on_conflict: abort" in str(taken.message)
    else:
        second = result_of(taken)
        assert [i.key for i in second.conflicts] == [f"local/{s0}"]
        if policy == "cancel":
            assert [b.instance.key for b in second.bots] == [f"local/{s0}"] and second.bots[0].accounts_completed == 1
        else:
            assert [i.key for i in second.skipped] == [f"local/{s0}"]
            assert [b.instance.key for b in second.bots] == [f"local/{s1}"]
            assert second.bots[0].state == BotState.COMPLETED.value
    assert first.bots[0].state == BotState.STOPPED.value  # stopped by stop() or cancelled by the taker
    if policy == "cancel":  # its only bot taken over: the holder says so, never Completed (issue 23 item 7)
        assert held.is_failed() and f"instances taken by launch {second.flow_run_id}" in str(held.message)
    else:
        assert held.is_cancelled()  # stopped by stop()
    assert asyncio.run(slots(s0)) == 0 and asyncio.run(slots(s1)) == 0
    assert no_leases(fleet_home)


async def _paused_launch(client: Any, group: str) -> Any:
    runs = await launch_runs(client, group)
    return next((r.id for r in runs if r.state and r.state.is_paused()), None)


def test_cancel_in_the_middle_of_a_long_step_releases_everything(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    name = holder_group(fleet_home, "cancel-mid-step", serial)

    async def scenario() -> tuple[State, float, Any]:
        task = asyncio.create_task(launch_group(name, return_state=True))
        await until(lambda: bot_in_step(name), what="the long step")
        assert await slots(serial) == 1 and not no_leases(fleet_home)
        async with get_client() as client:
            (bot_run,) = await bot_runs(client, name)
        started = time.monotonic()
        assert await stop(name, bot=0) == 1  # the bot's flow run goes to Cancelling, as from the UI
        state = await task
        return state, time.monotonic() - started, bot_run.id

    state, elapsed, bot_run_id = asyncio.run(scenario())
    print(f"cancel → launch finished in {elapsed:.2f} s")  # informative; no timed assertion
    (row,) = result_of(state).bots
    assert row.state == BotState.STOPPED.value and row.steps_done == 1  # the 120 s sleep never finished

    async def bot_state() -> str:
        async with get_client() as client:
            return (await client.read_flow_run(bot_run_id)).state.type.value

    assert asyncio.run(bot_state()) == "CANCELLED"
    assert asyncio.run(slots(serial)) == 0
    assert no_leases(fleet_home)
    with fleet_home.engine().connect() as conn:
        executions = conn.execute(select(RoutineExecution.execution_status)).scalars().all()
        statuses = set(conn.execute(select(Account.pool_status)).scalars())
    assert executions == ["returned"] and statuses == {"available"}


def test_a_launch_stopped_after_one_of_its_bots_failed_ends_cancelled(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    """A cancelling run can only end Cancelled: the launch used to return Failed (a bot had failed), Prefect
    rejected it, and the launch run stayed *Cancelling* for ever (seen by benchmarks/chaos.py)."""
    sim = simulator(instances=2)
    sim.instances[0].set_state("home_ready")  # bot 0 finds the game and sleeps; bot 1 sees the launcher, fails
    (fleet_home.root / "routines" / "test" / "in_game.yaml").write_text(
        "version: 1\nroutine_name: in the game or fail\nsteps:\n"
        "  - {action: WaitForImage, template: Main, timeout: 1s}\n  - {action: Sleep, duration: 120s}\n")
    name = fleet_home.group("stop-after-failure", routine="test/in_game", instances=[0, 1], bots=2,
                            backend_options={"serials": sim.serials}, recovery={"enabled": False})

    async def failed(group: str) -> bool:
        return any(b.bot == 1 and b.state is BotState.FAILED for b in await status(group, live=False))

    async def scenario() -> tuple[State, list[str]]:
        task = asyncio.create_task(launch_group(name, return_state=True))
        await until(lambda: failed(name), what="bot 1 failed")
        await until(lambda: bot_in_step(name), what="bot 0 in its long step")
        await stop(name)
        state = await task
        async with get_client() as client:
            live = [r.name for r in await launch_runs(client, name) + await bot_runs(client, name)]
        return state, live

    state, live = asyncio.run(scenario())
    assert state.is_cancelled(), state
    assert "1 of 2 bots failed" in str(state.message)
    assert live == [], "no run is left Cancelling"
    assert sorted(b.state for b in result_of(state).bots) == [BotState.FAILED.value, BotState.STOPPED.value]


def test_pause_and_resume_keep_the_lock_and_the_lease(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    name = holder_group(fleet_home, "pause-resume", serial)

    async def scenario() -> State:
        task = asyncio.create_task(launch_group(name, return_state=True))
        await until(lambda: bot_in_step(name), what="the long step")
        assert await pause(name) == 1
        await until(lambda: bot_in_step(name, state=BotState.PAUSED), what="paused")
        assert await slots(serial) == 1 and not no_leases(fleet_home)
        assert await resume(name, bot=0) == 1
        await until(lambda: bot_in_step(name), what="running again")
        await stop(name)
        return await task

    state = asyncio.run(scenario())
    assert state.is_cancelled()
    assert result_of(state).bots[0].state == BotState.STOPPED.value
    assert asyncio.run(slots(serial)) == 0 and no_leases(fleet_home)


def test_a_killed_launch_process_lease_and_lock_expire(
        prefect_server: PrefectServer, fleet_home: FleetHome, simulator: Callable[..., Any]) -> None:
    """SIGKILL mid-step: nothing is released, yet the lock (60 s lease) and the account (pool lease_ttl 60 s) come
    back by expiry alone; the launch run does not stay *Running* (issue 23 item 1): the zombie automation crashes
    it and its bot's run, and what the launch left in the database (its budget row, its command channel, its
    claims, its started routine executions) is cleaned up by the next launch's pruning."""
    from datetime import timedelta
    from uuid import uuid4

    from adapters.automations import apply_automations, emufleet_automations, remove_automations
    from adapters.launch_rows import prune_ended
    from adapters.locks import holders
    from adapters.registry import group_tag
    from emufleet.control import ControlPlane
    from emufleet.pools.budget import list_budgets

    sim = simulator(instances=1)
    serial = sim.instances[0].serial
    name = holder_group(fleet_home, "killed", serial)
    prefix = f"test-{uuid4().hex[:8]}: "
    # longer than a heartbeat (30 s): a live launch is never crashed; only this test's runs
    automations = emufleet_automations(None, zombie_after=timedelta(seconds=45), prefix=prefix, tag=group_tag(name),
                                       launch_runs=f"launch-{name}")

    async def apply(remove: bool = False) -> None:
        async with get_client() as client:
            await (remove_automations(client, prefix) if remove else apply_automations(client, automations))

    asyncio.run(apply())
    code = f"import asyncio; from flows.launch_group import launch_group; asyncio.run(launch_group({name!r}))"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        asyncio.run(until(lambda: bot_in_step(name), timeout_s=90, what="the long step"))
        assert asyncio.run(slots(serial)) == 1 and not no_leases(fleet_home)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    killed_at = time.monotonic()

    async def freed() -> bool:
        return await slots(serial) == 0

    asyncio.run(until(freed, timeout_s=150, what="the lock's lease to expire"))
    print(f"lock freed {time.monotonic() - killed_at:.0f} s after the kill")

    accounts = fleet_home.engine()

    async def account_expired() -> bool:  # its own clock (lease_ttl from the last heartbeat), not the lock's
        with accounts.connect() as conn:
            expires = conn.execute(select(Account.lease_expires_at).where(
                Account.lease_token.is_not(None))).scalars().all()
        assert len(expires) == 1  # nobody returned the account: it still carries the killed bot's lease
        return expires[0] < utcnow()  # expired: leasable again by any bot

    try:
        asyncio.run(until(account_expired, timeout_s=90, what="the account's lease to expire"))
    finally:
        accounts.dispose()

    async def crashed() -> Any:
        async with get_client() as client:
            runs = [*await launch_runs(client, name, live=False), *await bot_runs(client, name, live=False)]
        return runs if runs and all(r.state is not None and r.state.is_crashed() for r in runs) else None

    try:
        runs = asyncio.run(until(crashed, timeout_s=120, what="the killed launch's runs to end Crashed"))
    finally:
        asyncio.run(apply(remove=True))
    launch = next(str(r.id) for r in runs if "emufleet-launch" in r.tags)
    plane = ControlPlane(fleet_home.engine())

    async def prune() -> tuple[Any, list[Any]]:
        async with get_client() as client:
            pruned = await prune_ended(client, plane)
            return pruned, await holders(client, plane.claims, InstanceId(LOCAL_HOST, serial))

    pruned, still = asyncio.run(prune())
    assert launch in pruned.budgets and launch in pruned.commands and launch in pruned.executions
    assert launch in pruned.claims and still == []  # no run counts as the instance's live owner any more
    assert list_budgets(plane.engine) == [] and plane.commands.launches() == []
    with plane.engine.connect() as conn:
        statuses = conn.execute(select(RoutineExecution.execution_status)).scalars().all()
    assert statuses and "started" not in statuses
    plane.dispose()
