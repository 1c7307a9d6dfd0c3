"""Every fault kind is observable through adbutils and the real adb server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import adbutils
import pytest

from emufleet.errors import SimulatorError
from emufleet.sim import SimInstance, Simulator, parse_fault
from tests.conftest import connect_serial, wait_device_state
from tests.sim.helpers import BASIC, PACKAGE, wait_until


@pytest.fixture
def sim(simulator: Callable[..., Simulator]) -> Simulator:
    return simulator(instances=1, scenario=BASIC)


@pytest.fixture
def inst(sim: Simulator) -> SimInstance:
    return sim.instances[0]


@pytest.fixture
def dev(adb_server: adbutils.AdbClient, inst: SimInstance) -> adbutils.AdbDevice:
    return adb_server.device(inst.serial)


def _state(client: adbutils.AdbClient, serial: str) -> str | None:
    return {i.serial: i.state for i in client.list()}.get(serial)


def _recover(client: adbutils.AdbClient, serial: str) -> None:
    """What a client does after a drop: reconnect (the server may still list the device offline)."""
    client.disconnect(serial)
    connect_serial(client, serial)


def test_fault_options_are_checked() -> None:
    assert parse_fault("reboot", {"down_s": "1.5"}) == {"down_s": 1.5, "boot_s": 3.0}
    with pytest.raises(SimulatorError, match="unknown fault kind"):
        parse_fault("meltdown")
    with pytest.raises(SimulatorError, match="no option 'screen_ms'"):
        parse_fault("latency", {"screen_ms": 5})
    with pytest.raises(SimulatorError, match="on='nothing'"):
        parse_fault("drop", {"on": "nothing"})
    with pytest.raises(SimulatorError, match="≥ 0"):
        parse_fault("latency", {"am_ms": -1})
    with pytest.raises(SimulatorError, match="needs account="):
        parse_fault("refused_account")


def test_black_and_corrupt_screen(inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    inst.set_state("home")
    inst.inject_fault("black_screen")
    assert dev.screenshot(error_ok=False).getextrema() == ((0, 0), (0, 0), (0, 0))
    assert dev.framebuffer().getpixel((100, 100))[:3] == (0, 0, 0)
    inst.clear_faults("black_screen")
    inst.inject_fault("corrupt_screen")
    with pytest.raises(adbutils.AdbError):
        dev.screenshot(error_ok=False)  # the mangled PNG signature is not recognised
    assert dev.screenshot().getextrema() == ((0, 0), (0, 0), (0, 0))  # adbutils' silent black fallback
    inst.clear_faults()
    assert dev.screenshot(error_ok=False).getpixel((10, 10)) == (0x30, 0xA0, 0x50)


def test_drop_mid_screencap(adb_server: adbutils.AdbClient, inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    inst.inject_fault("drop", on="screencap")
    with pytest.raises((adbutils.AdbError, OSError)):  # half a PNG, then the connection is cut
        dev.screenshot(error_ok=False).load()  # adbutils' image is lazy: decoding fails on first access
    assert inst.faults == {}  # one-shot
    _recover(adb_server, inst.serial)
    assert dev.screenshot(error_ok=False).size == (540, 960)


def test_drop_on_sync(adb_server: adbutils.AdbClient, inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    inst.write_file("/sdcard/data.bin", bytes(200_000))
    inst.inject_fault("drop", on="sync")
    with pytest.raises((adbutils.AdbError, OSError)):
        dev.sync.read_bytes("/sdcard/data.bin")
    _recover(adb_server, inst.serial)
    assert len(dev.sync.read_bytes("/sdcard/data.bin")) == 200_000


def test_refuse_is_emulator_off(adb_server: adbutils.AdbClient, inst: SimInstance) -> None:
    inst.inject_fault("refuse")
    adb_server.disconnect(inst.serial)
    reply = adb_server.connect(inst.serial, timeout=15)
    assert "failed to connect" in reply or "unable to connect" in reply  # adbutils returns this, never raises
    inst.clear_faults("refuse")
    _recover(adb_server, inst.serial)
    assert adb_server.device(inst.serial).shell("echo back") == "back"


def test_silent_keeps_device_offline(adb_server: adbutils.AdbClient, inst: SimInstance) -> None:
    inst.inject_fault("silent")
    wait_until(lambda: _state(adb_server, inst.serial) != "device", what="the device to leave 'device'")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # the server reconnects, but never gets a CNXN
        assert _state(adb_server, inst.serial) != "device"
        time.sleep(0.1)
    assert any(c.is_silent for c in inst._connections)
    inst.clear_faults("silent")
    wait_device_state(adb_server, inst.serial, "device", timeout_s=30)


def test_reboot_fault_boot_completed_empty_while_booting(adb_server: adbutils.AdbClient, inst: SimInstance,
                                                         dev: adbutils.AdbDevice) -> None:
    inst.set_state("home")
    inst.inject_fault("reboot", down_s=0.3, boot_s=30)
    wait_until(lambda: _state(adb_server, inst.serial) != "device", what="the reboot to drop the device")
    wait_device_state(adb_server, inst.serial, "device", timeout_s=30)
    assert dev.getprop("sys.boot_completed") == ""
    black = dev.screenshot(error_ok=False)
    assert black.getextrema() == ((0, 0), (0, 0), (0, 0))  # the boot animation is black here
    inst.device.boot_done_at = 0.0  # finish booting now rather than waiting 30 s
    assert dev.getprop("sys.boot_completed") == "1"
    assert inst.state == "launcher"


def test_latency_per_class(inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    inst.inject_fault("latency", screencap_ms=300, input_ms=200)
    start = time.monotonic()
    dev.screenshot(error_ok=False)
    screencap_s = time.monotonic() - start
    start = time.monotonic()
    dev.click(1, 1)
    input_s = time.monotonic() - start
    assert screencap_s >= 0.3 and input_s >= 0.2  # lower bounds: the injected sleep always happens
    assert inst.faults == {"latency": {"screencap_ms": 300.0, "input_ms": 200.0}}


def test_crash_returns_to_launcher(inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    dev.app_start(PACKAGE, ".MainActivity")
    assert dev.shell(f"pidof {PACKAGE}").isdigit()
    inst.inject_fault("crash")
    assert inst.state == "launcher"
    assert dev.shell(f"pidof {PACKAGE}") == ""
    assert dev.app_current().package == "com.mumu.launcher"
    assert [e.kind for e in inst.events if e.kind in ("crash", "fault")] == ["fault", "crash"]


def test_in_band_control_command(inst: SimInstance, dev: adbutils.AdbDevice) -> None:
    assert dev.shell("emufleet-sim state") == "launcher"
    assert dev.shell("emufleet-sim state menu") == "menu"
    assert inst.state == "menu"
    assert json.loads(dev.shell("emufleet-sim fault black_screen"))["faults"] == {"black_screen": True}
    assert dev.screenshot(error_ok=False).getextrema() == ((0, 0), (0, 0), (0, 0))
    dev.shell("emufleet-sim clear")
    events = [json.loads(line) for line in dev.shell("emufleet-sim events 3").splitlines()]
    assert len(events) == 3 and events[-1]["kind"] == "fault"
    assert "unknown fault kind" in dev.shell("emufleet-sim fault nope")
    assert dev.shell2("emufleet-sim fault nope").returncode == 1
