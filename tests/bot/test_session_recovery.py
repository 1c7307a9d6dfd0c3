"""The bot session around its recoveries, on the simulator through the real adb server (issue 23 items 5 and 6):
a fault seen before a recovery is not spent after it, an adb blip resumes at the interrupted step, and an
operator's rung keeps the account, resumes at the checkpoint and spends no budget."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.bot import BotSession, InlineSteps, StepOutcome
from emufleet.bot.recovery import FaultKind
from emufleet.groups import BotState
from emufleet.routines import RoutineRun
from tests.sim.helpers import wait_until

from .harness import Recorder, _in_game, _run, _spec

pytestmark = pytest.mark.slow

LOOK_TAP_WAIT = {"t/look": """
    version: 1
    routine_name: looks, taps, waits
    steps:
      - {action: WaitForImage, template: Main, timeout: 10s}
      - {action: Click, x: 10, y: 100}
      - {action: Sleep, duration: 300ms}
    """}


def test_a_health_fault_seen_before_a_recovery_is_not_spent_after_it(simulator: Callable[..., Any], routines,
                                                                     tmp_path: Path) -> None:
    """The race of issue 23 item 5, ordered deterministically through the session's own seams: the supervision
    loop's health check sees ADB down while the step fails on its own (the tap is refused); the step's fault is
    recovered (reconnect), and only then does the check's verdict reach the loop. Spent, it was a second failure
    on a healthy device: with a budget of 2 the bot gave up."""
    inst = _in_game(simulator)
    rec = Recorder()
    armed, held = threading.Event(), threading.Event()
    sessions: list[BotSession] = []

    def wrap(direct: Callable[..., Any]) -> Callable[..., Any]:
        def blocking(fn: Callable[..., Any], *args: Any) -> Any:
            result = direct(fn, *args)
            if getattr(fn, "__name__", "") == "health_check" and armed.is_set() and not held.is_set() \
                    and not result[0].adb_alive:
                held.set()  # the supervision loop's verdict, reached before the recovery: delivered after it
                wait_until(lambda: "bot.recovered" in rec.kinds(), 60, "the recovery of the step's own fault")
            return result
        return blocking

    async def steps(run: RoutineRun, index: int, label: str) -> StepOutcome:
        inline = InlineSteps(sessions[0].call)
        if index != 1 or armed.is_set():
            return await inline(run, index, label)
        inst.inject_fault("refuse")
        armed.set()
        outcome = await inline(run, index, label)  # the tap is refused: the step's own device error
        await asyncio.to_thread(wait_until, held.is_set, 30, "the health check seeing ADB down")
        inst.clear_faults()
        return outcome

    spec = _spec(inst.serial, "t/look", recovery={"rungs": ["reconnect"], "routine": None,
                                                  "budget": {"failures": 2}, "ready_timeout": 30.0})
    result = _run(spec, routines(LOOK_TAP_WAIT), rec, tmp_path, made=sessions.append, steps=steps, wrap=wrap)
    assert held.is_set()
    assert result.state is BotState.COMPLETED and result.gave_up is None, rec.kinds()
    assert result.recoveries == {"reconnect": 1} and result.faults == 1, rec.kinds()
    scope = sessions[0].scope
    assert sessions[0].budget.recent == 1, "only the step's own fault spent the failure budget"
    assert [i.handled_by for i in scope.refused if i.fault.kind is FaultKind.ADB_DOWN] in (["stale"], ["shielded"])


def test_a_reconnect_that_finds_the_same_screen_resumes_at_the_interrupted_step(
        simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    """Issue 23 item 6: after an adb blip the app is where it was; the routine goes on at the step the fault
    interrupted, not at its start (whose first step may not know the screen, and would stall until stuck)."""
    inst = _in_game(simulator)
    inst.set_state("menu")  # a screen without timers of its own (the home screen's error popup comes after 8 s)
    registry = routines({"t/blip": """
        version: 1
        routine_name: looks, then a long wait
        steps:
          - {action: WaitForImage, template: Back, timeout: 10s}
          - {action: Sleep, duration: 3s}
          - {action: Click, x: 10, y: 100}
        """})
    rec = Recorder()
    done: list[int] = []

    def clear_once_recovering() -> None:
        wait_until(lambda: "bot.recovering" in rec.kinds(), 60, "the reconnect rung")
        inst.clear_faults()

    def progress(n: int, total: int) -> None:
        done.append(n)
        if n == 1 and done.count(1) == 1:  # in the long wait: the adb connection drops
            inst.inject_fault("refuse")
            threading.Thread(target=clear_once_recovering, daemon=True).start()

    rec.on_progress = progress
    spec = _spec(inst.serial, "t/blip", recovery={"ready_timeout": 30.0})
    result = _run(spec, registry, rec, tmp_path)
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert result.recoveries == {"reconnect": 1}, result.recoveries
    [recovered] = [e for e in rec.events if e.kind == "bot.recovered"]
    assert recovered.payload["resume_at"] == "1: Sleep", "the same screen: on at the interrupted step"
    assert done == [1, 2, 3], "step 0 was not played again"


@pytest.mark.parametrize(("rung", "input_kind"), [("restart_app", "app_stop"), ("restart_instance", "reboot")])
def test_an_operator_rung_keeps_the_account_resumes_at_the_checkpoint_and_spends_no_budget(
        simulator: Callable[..., Any], routines, tmp_path: Path, db_engine: Any, make_accounts: Any,
        rung: str, input_kind: str) -> None:
    from emufleet.bot import BotAccounts
    from emufleet.bot.metrics import read_payload
    from emufleet.pools import LeaseOwner, Pool, PoolAccountProvider, PoolDefinition

    make_accounts(2)
    inst = _in_game(simulator)
    registry = routines({"t/op": """
        version: 1
        routine_name: an account, a checkpoint, a long step
        steps:
          - {action: InjectNextAccount, timeout: 10s}
          - {action: Sleep, duration: 200ms, checkpoint: true}
          - {action: Sleep, duration: 4s}
          - {action: CompleteAccount, success: true}
        """})
    pool = Pool(PoolDefinition.loads("pool_name: p\nqueries: [{name: all, filters: [{column: id, comparator: '>', "
                                     "value: 0}]}]\n", "p.yaml"), db_engine, LeaseOwner("run-1", inst.serial))
    accounts = BotAccounts([PoolAccountProvider(pool, routine="t/op")])
    rec = Recorder()
    sessions: list[BotSession] = []
    done: list[int] = []

    def progress(n: int, total: int) -> None:
        done.append(n)
        if n == 2 and done.count(2) == 1:  # in the long step, past the checkpoint: the operator restarts the app
            sessions[0].request_recovery(rung)

    rec.on_progress = progress
    spec = _spec(inst.serial, "t/op", pools=["p"], recovery={"budget": {"failures": 1}}, health={"heartbeat": 0.5})
    result = _run(spec, registry, rec, tmp_path, accounts=accounts, made=sessions.append)
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert result.recoveries == {rung: 1} and result.faults == 0 and result.gave_up is None
    assert sessions[0].budget.recent == 0, "an operator's rung spends no failure budget (1 failure would give up)"
    [recovering] = [e for e in rec.events if e.kind == "bot.recovering"]
    [recovered] = [e for e in rec.events if e.kind == "bot.recovered"]
    assert recovering.payload["rung"] == rung and recovering.payload["reason"] == "operator"
    assert recovered.payload["fault"] == "operator" and recovered.payload["resume_at"] == "1: Sleep"
    assert done == [1, 2, 2, 3, 4], "the routine resumed at its checkpoint (step 1), not at its start"
    leased = [e.bot.account for e in rec.events if e.kind == "account.leased"]
    completed = [e.bot.account for e in rec.events if e.kind == "account.completed"]
    assert len(leased) == 1 and completed == leased, "the same account was re-injected on its lease and completed"
    assert "account.returned" not in rec.kinds()
    beats = [read_payload(e.payload) for e in rec.events if e.kind == "bot.heartbeat"]
    last = beats[-1]
    assert last is not None and last.inputs.get(input_kind, 0) >= 1, "the rung acted on the device"
    assert last.recoveries == {(rung, "operator"): 1} and last.failures == {}
