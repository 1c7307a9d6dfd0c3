"""The app-level faults (frozen, stuck_app, popup_storm, anr) on the demo game, through the real adb server.

Frames come from :class:`emufleet.device.Device` (raw screencap over adb), dialogs are found with the production
matcher and the shipped template set, and every claim about input is read back from the instance's event log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from emufleet.device import Device
from emufleet.errors import SimulatorError
from emufleet.settings import GAME
from emufleet.sim import SimInstance, Simulator, parse_fault
from emufleet.sim.control import handle_request
from emufleet.vision import TemplateSet, match
from tests.conftest import REPO
from tests.sim.helpers import BASIC, wait_until

TEMPLATES = TemplateSet.load(REPO / "templates" / "registry.yaml")


@pytest.fixture
def sim(simulator: Callable[..., Simulator]) -> Simulator:
    return simulator(instances=1, scenario="demo")


@pytest.fixture
def inst(sim: Simulator) -> SimInstance:
    return sim.instances[0]


@pytest.fixture
def dev(inst: SimInstance) -> Device:
    return Device(inst.serial, timeout_s=10)


def _centre(frame: np.ndarray, name: str) -> tuple[int, int] | None:
    """The device-px centre of template ``name`` on ``frame``, or None."""
    result = match(frame, TEMPLATES.get(name), space=TEMPLATES.space)
    return result.best.device_center if result.found and result.best is not None else None


def _tap_template(dev: Device, name: str) -> None:
    centre = _centre(dev.screenshot(), name)
    assert centre is not None, f"{name} not on screen"
    dev.tap(*centre)


def _events(inst: SimInstance, kind: str, since: float = 0.0) -> list[dict[str, Any]]:
    return [e.detail for e in inst.events if e.kind == kind and e.t >= since]


def test_options_of_the_app_faults_are_checked() -> None:
    assert parse_fault("frozen") == {"cleared_by": "app"}
    assert parse_fault("popup_storm", {"interval_s": "0.5", "count": "0"}) == {"interval_s": 0.5, "count": 0}
    with pytest.raises(SimulatorError, match="cleared_by='never'"):
        parse_fault("stuck_app", {"cleared_by": "never"})
    with pytest.raises(SimulatorError, match="no option"):
        parse_fault("anr", {"count": 1})


def test_frozen_screen_returns_the_last_frame_and_ignores_input(inst: SimInstance, dev: Device) -> None:
    inst.set_state("home_ready")
    before = dev.screenshot()
    inst.inject_fault("frozen")
    assert inst.faults == {"frozen": {"cleared_by": "app"}}
    inst.set_state("menu")  # the app goes on behind the frozen display
    assert np.array_equal(dev.screenshot(), before)
    dev.tap(*_centre(before, "Missions"))  # type: ignore[misc]
    dev.key_event("KEYCODE_BACK")
    assert inst.state == "menu"
    assert [e.get("ignored") for e in _events(inst, "tap") + _events(inst, "key")] == ["frozen", "frozen"]
    inst.clear_faults("frozen")
    assert _centre(dev.screenshot(), "Back") is not None  # the menu, at last


def test_frozen_ends_with_the_app_unless_told_otherwise(inst: SimInstance, dev: Device) -> None:
    inst.set_state("home_ready")
    inst.inject_fault("frozen")
    dev.app_stop(GAME.package)  # rung 2 of a recovery ladder: restart the app
    assert inst.faults == {} and inst.state == "launcher"
    assert {"kind": "end", "fault": "frozen", "cause": "app stopped"} in _events(inst, "fault")
    assert _centre(dev.screenshot(), "AppIcon") is not None
    inst.set_state("home_ready")
    inst.inject_fault("frozen", cleared_by="reboot")
    dev.app_stop(GAME.package)
    assert "frozen" in inst.faults  # only a reboot (rung 3) fixes this one
    inst.inject_fault("reboot", down_s=0.1, boot_s=0.1)
    wait_until(lambda: "frozen" not in inst.faults, what="the reboot to end the frozen display")


def test_stuck_app_ignores_input_but_renders(inst: SimInstance, dev: Device) -> None:
    inst.set_state("home")  # the notice pops up 1 s after the home screen appears
    inst.inject_fault("stuck_app", cleared_by="clear")
    dev.tap(*_centre(dev.screenshot(), "Missions"))  # type: ignore[misc]
    assert _events(inst, "tap")[-1]["ignored"] == "stuck_app"
    wait_until(lambda: _centre(dev.screenshot(), "OK") is not None, what="the notice to render")
    _tap_template(dev, "OK")
    assert inst.state == "home_notice"
    dev.app_stop(GAME.package)
    assert inst.faults == {"stuck_app": {"cleared_by": "clear"}}
    _tap_template(dev, "AppIcon")  # the launcher is another app: it still answers
    assert inst.state == "splash"
    inst.set_state("home_ready")
    dev.tap(*_centre(dev.screenshot(), "Missions"))  # type: ignore[misc]
    assert inst.state == "home_ready"
    inst.clear_faults("stuck_app")
    dev.tap(*_centre(dev.screenshot(), "Missions"))  # type: ignore[misc]
    assert inst.state == "missions"


def test_popup_storm_until_count_popups_are_closed(inst: SimInstance, dev: Device) -> None:
    inst.set_state("home_ready")
    inst.inject_fault("popup_storm", interval_s=0.3, count=2)
    frame = dev.screenshot()
    assert _centre(frame, "Close") is not None and _centre(frame, "Main") is not None  # over the screen
    dev.tap(*_centre(frame, "Missions"))  # type: ignore[misc]
    assert inst.state == "home_ready" and _events(inst, "tap")[-1]["ignored"] == "popup"
    _tap_template(dev, "Close")
    closed_at = time.monotonic()
    assert _events(inst, "tap")[-1]["dialog"] == "popup.close"
    if time.monotonic() - closed_at < 0.25:  # the next popup is 0.3 s away
        assert _centre(dev.screenshot(), "Close") is None
    wait_until(lambda: _centre(dev.screenshot(), "Close") is not None, what="the second popup")
    dev.app_stop(GAME.package)  # the game's popup goes with the game, and comes back with it
    assert _centre(dev.screenshot(), "Close") is None and inst.state == "launcher"
    _tap_template(dev, "AppIcon")
    _tap_template(dev, "Close")
    assert inst.faults == {}
    dialog = [(d["action"], d.get("n")) for d in _events(inst, "dialog")]
    assert dialog == [("shown", 1), ("closed", 1), ("shown", 2), ("closed", 2)]
    assert _events(inst, "fault")[-1] == {"kind": "end", "fault": "popup_storm", "cause": "2 popups closed"}
    assert _centre(dev.screenshot(), "Close") is None


def test_anr_dialog_wait_and_close_app(inst: SimInstance, dev: Device) -> None:
    inst.set_state("missions")
    inst.inject_fault("anr")
    frame = dev.screenshot()
    assert all(_centre(frame, name) for name in ("NotResponding", "Wait", "CloseApp", "Back"))
    dev.key_event("KEYCODE_BACK")
    dev.tap(*_centre(frame, "Back"))  # type: ignore[misc]
    assert inst.state == "missions"
    _tap_template(dev, "Wait")
    assert inst.faults == {} and inst.state == "missions" and _centre(dev.screenshot(), "Wait") is None
    inst.inject_fault("anr")
    _tap_template(dev, "CloseApp")
    assert inst.state == "launcher" and dev.shell(f"pidof {GAME.package}").output == ""
    assert [(d["dialog"], d["action"]) for d in _events(inst, "dialog")] == [
        ("anr", "shown"), ("anr", "wait"), ("anr", "shown"), ("anr", "close_app")]
    ignored = [e.get("ignored") for e in _events(inst, "key") + _events(inst, "tap")]
    assert ignored == ["anr dialog", "anr dialog", None, None]
    inst.inject_fault("anr")  # no app, no dialog: the fault ends at once
    assert inst.faults == {} and _events(inst, "fault")[-1]["cause"] == "the app is not running"


def test_dialogs_and_stuck_app_precedence(inst: SimInstance, dev: Device) -> None:
    """The system's ANR dialog answers while the app is stuck; the app's own popup does not."""
    inst.set_state("home_ready")
    inst.inject_fault("stuck_app")
    inst.inject_fault("popup_storm", count=1)
    inst.inject_fault("anr")
    _tap_template(dev, "Wait")
    _tap_template(dev, "Close")
    assert "popup_storm" in inst.faults and _events(inst, "tap")[-1]["ignored"] == "stuck_app"


def test_faults_through_the_control_surfaces(sim: Simulator, inst: SimInstance, dev: Device) -> None:
    inst.set_state("home_ready")
    out = dev.shell("emufleet-sim fault popup_storm interval_s=1 count=0").output
    assert json.loads(out)["faults"]["popup_storm"] == {"interval_s": 1.0, "left": None, "up": True}
    response = handle_request(sim, {"op": "fault", "serial": inst.serial, "kind": "frozen",
                                    "options": {"cleared_by": "reboot"}})
    assert response["ok"] and response["faults"]["frozen"] == {"cleared_by": "reboot"}
    status = handle_request(sim, {"op": "status"})["simulator"]["instances"][0]["faults"]
    assert set(status) == {"popup_storm", "frozen"}
    assert handle_request(sim, {"op": "clear", "serial": inst.serial})["faults"] == {}
    kinds = [e["kind"] for e in handle_request(sim, {"op": "events", "serial": inst.serial})["events"]]
    assert kinds.count("fault") == 3  # two injections and the clear


def test_a_scenario_without_dialogs_refuses_popup_faults(simulator: Callable[..., Simulator]) -> None:
    inst = simulator(scenario=BASIC, connect=False).instances[0]
    with pytest.raises(SimulatorError, match="needs the scenario's 'dialogs.popup'"):
        inst.inject_fault("popup_storm")
    assert inst.events == [] or all(e.kind != "fault" for e in inst.events)
    inst.inject_fault("frozen")  # needs no art
    assert "frozen" in inst.faults


def test_input_origin_through_adb(inst: SimInstance, dev: Device) -> None:
    """A driver that names itself (``EMUFLEET_ORIGIN``) is named in the event log, fault or not."""
    inst.inject_fault("frozen")
    dev.shell("EMUFLEET_ORIGIN=launch-7 input tap 5 5", check=True)
    assert _events(inst, "tap")[-1] == {"x": 5, "y": 5, "state": "launcher", "origin": "launch-7",
                                        "ignored": "frozen"}
