"""The engine's bot session on the simulator, through the real adb server: attempts, variables, supervision,
the recovery ladder and the failure budget — without Prefect (fencing: ``test_session_fencing.py``)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.groups import BotState, RestartPolicy
from emufleet.groups.definition import RestartMode
from tests.sim.helpers import wait_until

from .harness import Recorder, _in_game, _run, _spec

pytestmark = pytest.mark.slow


def test_a_routine_runs_to_completion_with_its_status_and_events(simulator: Callable[..., Any], routines,
                                                                 tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/two": """
        version: 1
        routine_name: two steps
        steps:
          - {action: Sleep, duration: 100ms}
          - {action: Click, x: 10, y: 100}
        """})
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/two"), registry, rec, tmp_path)
    assert result.state is BotState.COMPLETED
    assert result.steps_done == 2 and result.attempts == 1 and result.faults == 0
    assert rec.kinds()[0] == "bot.started" and rec.kinds()[-1] == "bot.finished"
    assert [s.state for s in rec.statuses][-1] is BotState.COMPLETED
    assert any(e.kind == "tap" for e in inst.events)
    finished = rec.events[-1].payload  # the clocks benchmarks read of a remote bot (its final BotStatus stays here)
    assert finished["steps_done"] == 2 and finished["state"] == "completed"
    assert finished["wall_s"] == pytest.approx(result.wall_s, abs=1e-5) and result.step_s > 0.1  # the Sleep step
    assert (finished["step_s"], finished["engine_s"]) == (round(result.step_s, 6), round(result.engine_s, 6))


def test_non_persistent_variables_are_reset_before_each_attempt(simulator: Callable[..., Any], routines,
                                                                tmp_path: Path) -> None:
    # Attempts fail while `counter` is 1 and `kept` is below 3: with `counter` reset before each attempt (digest
    # §2.3) and `kept` persistent, the third attempt is the first to pass. Without the reset the second would.
    inst = _in_game(simulator)
    registry = routines({"t/count": """
        version: 1
        routine_name: count then fail
        config:
          - {name: kept, type: number, default: "0", persist: true}
        steps:
          - {action: Increment, name: counter}
          - {action: Increment, name: kept}
          - action: If
            condition:
              type: All
              conditions:
                - {type: VariableEquals, variable: counter, value: "1"}
                - {type: VariableLessThan, variable: kept, value: "3"}
            then:
              - {action: WaitForImage, template: TapToStart, timeout: 100ms}
        """})
    rec = Recorder()
    policy = RestartPolicy(mode=RestartMode.ON_FAILURE, max_restarts=5, initial_delay=0.05, max_delay=0.1)
    result = _run(_spec(inst.serial, "t/count", restart_policy=policy,
                        recovery={"budget": {"failures": 10}}), registry, rec, tmp_path)
    assert result.state is BotState.COMPLETED, result.errors
    assert result.attempts == 3
    assert rec.kinds().count("bot.attempt-failed") == 2
    assert "TapToStart" in result.errors[-1]


def test_stuck_detection_climbs_the_ladder_and_the_budget_gives_up(simulator: Callable[..., Any], routines,
                                                                   tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/idle": """
        version: 1
        routine_name: waits forever without input
        steps:
          - {action: Sleep, duration: 30s}
        """})
    rec = Recorder()
    spec = _spec(inst.serial, "t/idle", recovery={"stuck_after": 1.0, "rungs": ["routine", "restart_app"],
                                                  "budget": {"failures": 3, "window": 600}})
    result = _run(spec, registry, rec, tmp_path)
    assert result.steps_done == 0, "the stuck 30-s step was interrupted every time, never waited out"
    kinds = rec.kinds()
    assert kinds.count("bot.stuck") == 3
    rungs = [e.payload["rung"] for e in rec.events if e.kind == "bot.recovering"]
    assert rungs == ["routine", "restart_app"], "an incident escalates through the rungs not yet tried"
    assert kinds[-2:] == ["bot.gave-up", "bot.finished"]
    assert result.state is BotState.FAILED and result.gave_up
    assert result.recoveries == {"routine": 1, "restart_app": 1}
    assert rec.frames and all(p.is_file() for p in rec.frames), "failure evidence was written"


def test_a_bot_held_at_the_start_barrier_is_not_supervised_meanwhile(simulator: Callable[..., Any], routines,
                                                                     tmp_path: Path) -> None:
    """A launch with stagger 0 holds each bot before its first step until every bot is ready (on another host's
    worker that may take tens of seconds): the wait is neither stuck nor unhealthy, and no rung is taken."""
    inst = _in_game(simulator)
    registry = routines({"t/one": """
        version: 1
        routine_name: one quick step
        steps:
          - {action: Sleep, duration: 50ms}
        """})
    rec = Recorder()
    waited: list[float] = []

    async def go() -> None:  # the barrier opens after 6 heartbeats of the supervision loop: 3 stuck_after, 6 checks
        started = time.monotonic()
        while sum(e.kind == "bot.heartbeat" for e in rec.events) < 6:
            await asyncio.sleep(0.05)
        waited.append(time.monotonic() - started)

    spec = _spec(inst.serial, "t/one", recovery={"stuck_after": 1.0}, health={"heartbeat": 0.5})
    result = _run(spec, registry, rec, tmp_path, go=go)
    assert waited and waited[0] >= 2.5
    assert result.state is BotState.COMPLETED and result.faults == 0, result.errors
    assert "bot.stuck" not in rec.kinds() and not result.recoveries


def test_a_step_may_declare_a_longer_stuck_after(simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/long": """
        version: 1
        routine_name: a long, legitimate wait
        steps:
          - {action: Sleep, duration: 2500ms, stuck_after: 30s}
        """})
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/long", recovery={"stuck_after": 1.0}), registry, rec, tmp_path)
    assert result.state is BotState.COMPLETED and result.faults == 0
    assert "bot.stuck" not in rec.kinds()


def test_a_click_loop_is_a_fault(simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/loop": """
        version: 1
        routine_name: taps the same spot over and over
        steps:
          - action: Repeat
            iterations: 40
            actions:
              - {action: Click, x: 20, y: 300}
              - {action: Sleep, duration: 20ms}
        """})
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/loop", recovery={"budget": {"failures": 1}}), registry, rec, tmp_path)
    stuck = [e for e in rec.events if e.kind == "bot.stuck"]
    assert stuck and stuck[0].payload["reason"] == "click_loop"
    assert result.gave_up and result.state is BotState.FAILED
    taps = [e for e in inst.events if e.kind == "tap"]
    assert 12 <= len(taps) < 40, "the loop was interrupted once detected"


def test_a_crashed_app_is_restarted_and_the_routine_resumes(simulator: Callable[..., Any], routines,
                                                           tmp_path: Path) -> None:
    inst = simulator(instances=1, scenario="demo").instances[0]  # at the launcher: the routine starts the game
    registry = routines({"t/game": """
        version: 1
        routine_name: in the game
        steps:
          - {action: LaunchApp}
          - {action: WaitForImage, template: TapToStart, timeout: 20s}
          - {action: Sleep, duration: 4s}
        """})
    rec = Recorder()
    crashed = threading.Event()

    def crash_once(done: int, total: int) -> None:
        if done == 2 and not crashed.is_set():
            crashed.set()
            inst.inject_fault("crash")

    rec.on_progress = crash_once
    result = _run(_spec(inst.serial, "t/game", recovery={"stuck_after": 30.0}), registry, rec, tmp_path)
    assert crashed.is_set()
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert result.recoveries == {"restart_app": 1}
    unhealthy = [e for e in rec.events
                 if e.kind == "instance.unhealthy" and "app_not_foreground" in str(e.payload.get("check"))]
    assert unhealthy
    assert "bot.recovered" in rec.kinds()


def test_a_frozen_screen_is_recovered_by_the_app_restart(simulator: Callable[..., Any], routines,
                                                        tmp_path: Path) -> None:
    """The check after a rung judges the device as it is now: the frozen frames seen before the app restart must
    not make the restart look failed (they did: every rung "failed", the bot gave up, the fault long gone)."""
    inst = _in_game(simulator)
    registry = routines({"t/title": """
        version: 1
        routine_name: taps until the title shows
        steps:
          - action: UntilImageFound
            template: Title
            max_attempts: 200
            actions:
              - {action: Click, x: 10, y: 100}
              - {action: Click, x: 10, y: 160}
              - {action: Click, x: 10, y: 220}
              - {action: Sleep, duration: 150ms}
        """})
    inst.inject_fault("frozen")  # the home screen stays on the display; the restart ends the fault
    rec = Recorder()
    spec = _spec(inst.serial, "t/title", recovery={"rungs": ["restart_app", "restart_instance"]})
    result = _run(spec, registry, rec, tmp_path)
    unhealthy = [e for e in rec.events if e.kind == "instance.unhealthy" and e.payload.get("check") ==
                 "frozen_screen"]
    assert unhealthy, rec.kinds()
    assert "bot.rung-failed" not in rec.kinds(), [e.payload for e in rec.events if e.kind == "bot.rung-failed"]
    assert result.state is BotState.COMPLETED, rec.kinds()
    # One app restart ended the freeze; on a loaded machine a later, unrelated fault may take another rung.
    assert result.recoveries.get("restart_app") == 1, result.recoveries
    assert result.captures > 10, "every capture is a recognition round"


def test_a_refused_connection_is_recovered_by_reconnecting(simulator: Callable[..., Any], routines,
                                                          tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/wait": """
        version: 1
        routine_name: a few screenshots
        steps:
          - {action: Sleep, duration: 200ms}
          - {action: Sleep, duration: 3s}
          - {action: Click, x: 10, y: 100}
        """})
    rec = Recorder()
    downed = threading.Event()

    def clear_once_recovering() -> None:
        wait_until(lambda: "bot.recovering" in rec.kinds(), 60, "the reconnect rung")
        inst.clear_faults()

    def drop_once(done: int, total: int) -> None:
        if done == 1 and not downed.is_set():
            downed.set()
            inst.inject_fault("refuse")
            threading.Thread(target=clear_once_recovering, daemon=True).start()

    rec.on_progress = drop_once
    result = _run(_spec(inst.serial, "t/wait", recovery={"ready_timeout": 30.0}), registry, rec, tmp_path)
    assert downed.is_set()
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert "reconnect" in result.recoveries, result.recoveries


ONE_TAP = {"t/one": """
    version: 1
    routine_name: one tap
    steps:
      - {action: Click, x: 10, y: 100}
    """}


def test_a_device_that_cannot_be_opened_yet_is_retried_under_the_restart_policy(
        simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines(ONE_TAP)
    inst.inject_fault("refuse")  # adb connect is refused until the fault clears, after the first retry
    rec = Recorder()

    def clear_once_retried() -> None:
        wait_until(lambda: BotState.RESTARTING in [s.state for s in rec.statuses], 60, "a failed open")
        inst.clear_faults()

    threading.Thread(target=clear_once_retried, daemon=True).start()
    policy = RestartPolicy(mode=RestartMode.ON_FAILURE, max_restarts=5, initial_delay=0.5, max_delay=1.0)
    spec = _spec(inst.serial, "t/one", restart_policy=policy, connect_timeout_s=1.5,
                 recovery={"budget": {"failures": 10}})  # the budget counts them too; test the policy here
    result = _run(spec, registry, rec, tmp_path)
    assert result.state is BotState.COMPLETED, (result.errors, rec.kinds())
    assert result.errors and all("DeviceConnectError" in e for e in result.errors), result.errors
    assert result.restarts == len(result.errors)  # each failed open is a restart the policy granted
    assert BotState.RESTARTING in [s.state for s in rec.statuses]


def test_a_device_that_cannot_be_opened_fails_the_bot_once_the_policy_says_so(
        simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines(ONE_TAP)
    inst.inject_fault("refuse")
    policy = RestartPolicy(mode=RestartMode.ON_FAILURE, max_restarts=1, initial_delay=0.2, max_delay=0.2)
    result = _run(_spec(inst.serial, "t/one", restart_policy=policy, connect_timeout_s=1.0), registry, Recorder(),
                  tmp_path)
    inst.clear_faults()
    assert result.state is BotState.FAILED and result.attempts == 0
    assert len(result.errors) == 2 and "DeviceConnectError" in (result.error or ""), result.errors


def test_a_give_up_returns_the_account_with_the_reason_and_lease_changes_are_events(
        simulator: Callable[..., Any], routines, tmp_path: Path, db_engine: Any, make_accounts: Any) -> None:
    from sqlalchemy import select

    from emufleet import db
    from emufleet.bot import BotAccounts
    from emufleet.pools import LeaseOwner, Pool, PoolAccountProvider, PoolDefinition

    [account_id] = make_accounts(1)
    inst = _in_game(simulator)
    registry = routines({"t/hold": """
        version: 1
        routine_name: takes an account, then hangs
        steps:
          - {action: InjectNextAccount, timeout: 10s}
          - {action: Sleep, duration: 30s, checkpoint: true}
        """})
    pool = Pool(PoolDefinition.loads("pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', "
                                     "value: 0}]}]\n", "p.yaml"), db_engine, LeaseOwner("run-1", inst.serial))
    accounts = BotAccounts([PoolAccountProvider(pool, routine="t/hold")])
    rec = Recorder()
    spec = _spec(inst.serial, "t/hold", pools=["p"], recovery={"stuck_after": 1.0, "rungs": ["routine"],
                                                               "budget": {"failures": 2}})
    result = _run(spec, registry, rec, tmp_path, accounts=accounts)
    assert result.gave_up and result.state is BotState.FAILED
    resumed = [e.payload["resume_at"] for e in rec.events if e.kind == "bot.recovered"]
    assert resumed == ["1: Sleep"], "the routine resumed at its checkpoint, after the account was injected"
    leased = [e for e in rec.events if e.kind == "account.leased"]
    returned = [e for e in rec.events if e.kind == "account.returned"]
    assert len(leased) == 1 and leased[0].bot.account == "acct_000@test.invalid"
    assert len(returned) == 1 and "gave up" in (returned[0].payload["reason"] or "")
    with db.session(db_engine) as s:
        account = s.get(db.Account, account_id)
        assert account is not None and account.lease_token is None and account.pool_status == "available"
        statuses = s.scalars(select(db.RoutineExecution.execution_status)).all()
    assert statuses == ["returned"]


def test_a_screen_frozen_until_reboot_climbs_to_restart_instance(simulator: Callable[..., Any], routines,
                                                                 tmp_path: Path) -> None:
    inst = _in_game(simulator)
    registry = routines({"t/poke": """
        version: 1
        routine_name: looks and taps
        steps:
          - action: Repeat
            iterations: 60
            actions:
              - action: IfImageFound
                template: Main
                actions:
                  - {action: Click, x: 10, y: 100}
                  - {action: Click, x: 60, y: 100}
                  - {action: Click, x: 110, y: 100}
              - {action: Sleep, duration: 100ms}
        """})
    inst.inject_fault("frozen", cleared_by="reboot")
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/poke", recovery={"budget": {"failures": 10}, "stuck_after": 30.0}),
                  registry, rec, tmp_path)
    rungs = [e.payload["rung"] for e in rec.events if e.kind == "bot.recovering"]
    assert rungs[:3] == ["routine", "restart_app", "restart_instance"], rec.kinds()
    frozen = [e for e in rec.events if e.kind == "instance.unhealthy" and e.payload.get("check") == "frozen_screen"]
    assert frozen, "the health check saw the frozen screen"
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert result.recoveries.get("restart_instance") == 1
    assert any(e.kind == "reboot" for e in inst.events)
