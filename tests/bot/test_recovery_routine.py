"""The shipped recovery routine (rung 1 of the ladder) on the simulator, against the faults it must undo."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from emufleet.device import Device
from emufleet.errors import RoutineError, RoutineStopped
from emufleet.routines import BotContext, Controller, RoutineRegistry, RoutineRun
from emufleet.sim import SimInstance, Simulator, art
from tests.sim.helpers import wait_until

ROUTINE = "recovery/go_home"

pytestmark = pytest.mark.slow


@pytest.fixture
def registry(shipped_routines: RoutineRegistry) -> RoutineRegistry:
    return shipped_routines


@pytest.fixture
def inst(simulator: Callable[..., Simulator]) -> SimInstance:
    return simulator(instances=1, scenario="demo").instances[0]


MAIN_VARIABLES = {"calm_left": "7", "settle_checks": "9", "packs_opened": "2"}  # the main routine's, kept


def _context(inst: SimInstance, registry: RoutineRegistry, controller: Controller | None = None) -> BotContext:
    return BotContext(Device(inst.serial, timeout_s=10), registry.templates, registry, controller or Controller(),
                      dict(MAIN_VARIABLES), bot_id=inst.serial)


def _recover(inst: SimInstance, registry: RoutineRegistry, **overrides: str) -> None:
    ctx = _context(inst, registry)
    try:
        RoutineRun(registry.get(ROUTINE), ctx, overrides).run()
    except RoutineError as exc:  # say where the simulated game was
        pytest.fail(f"{exc}\nstate {inst.state}; faults {inst.faults}; last events {inst.events[-12:]}")
    assert {name: ctx.variables.get(name) for name in MAIN_VARIABLES} == MAIN_VARIABLES


def _taps(inst: SimInstance) -> list[dict[str, Any]]:
    return [e.detail for e in inst.events if e.kind == "tap"]


def test_a_popup_storm_is_closed_and_never_bought(inst: SimInstance, registry: RoutineRegistry) -> None:
    inst.set_state("home_ready")
    inst.inject_fault("popup_storm", interval_s=0.3, count=3)
    _recover(inst, registry)
    assert inst.state == "home_ready" and inst.faults == {}
    taps = _taps(inst)
    assert [t.get("dialog") for t in taps] == ["popup.close"] * 3
    x, y = art.DIALOG_AT["popup"]
    buy = (x + 127, y + 392, x + 293, y + 442)  # the unmarked BUY button (art/_dialogs.py)
    assert not any(buy[0] <= t["x"] < buy[2] and buy[1] <= t["y"] < buy[3] for t in taps)


def test_an_anr_dialog_is_waited_out_then_home(inst: SimInstance, registry: RoutineRegistry) -> None:
    inst.set_state("missions")
    inst.inject_fault("anr")
    _recover(inst, registry)
    assert inst.state == "home_ready"
    assert [t.get("dialog") for t in _taps(inst)][:1] == ["anr.wait"]
    assert [t["state"] for t in _taps(inst)][-1] == "missions"  # Back, after the dialog


@pytest.mark.parametrize("state", ["pack_result", "menu", "home_error", "launcher"])
def test_from_anywhere_in_the_game_to_home(state: str, inst: SimInstance, registry: RoutineRegistry) -> None:
    inst.set_state(state)
    _recover(inst, registry, go_home_settle_checks="8")  # 8 × ≥ 150 ms outlasts the home notice's 1 s delay
    assert inst.state == "home_ready"


def test_popups_over_popups_after_the_app_was_closed(inst: SimInstance, registry: RoutineRegistry) -> None:
    """An ANR answered with Close app elsewhere leaves the launcher; the storm comes back with the game."""
    inst.set_state("home_notice")
    inst.inject_fault("popup_storm", interval_s=0.5, count=2)
    inst.inject_fault("anr")
    _recover(inst, registry)
    assert inst.state == "home_ready" and inst.faults == {}
    dialogs = [t.get("dialog") for t in _taps(inst) if t.get("dialog")]
    assert dialogs == ["anr.wait", "popup.close", "popup.close"]
    assert not [t for t in _taps(inst) if t.get("ignored")]  # it never tapped what a dialog covered


def test_a_frozen_screen_keeps_it_from_finishing(inst: SimInstance, registry: RoutineRegistry) -> None:
    """Input is ignored, so the routine cannot succeed: it fails at its step timeout, and the ladder moves on."""
    inst.set_state("menu")
    inst.inject_fault("frozen", cleared_by="clear")
    controller = Controller()
    run = RoutineRun(registry.get(ROUTINE), _context(inst, registry, controller), {})
    failure: list[BaseException] = []

    def play() -> None:
        try:
            run.run()
        except RoutineError as exc:
            failure.append(exc)

    thread = threading.Thread(target=play)
    thread.start()
    try:
        wait_until(lambda: len(_taps(inst)) >= 6, timeout_s=30, what="six taps on the frozen menu")
        assert thread.is_alive() and inst.state == "menu", "tapping on, never done while the screen is frozen"
        assert {t.get("ignored") for t in _taps(inst)} == {"frozen"}
    finally:
        controller.stop(force=True)
        thread.join(timeout=20)
    assert not thread.is_alive() and isinstance(failure[0], RoutineStopped)
