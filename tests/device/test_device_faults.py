"""Every fault kind of the simulator reaches ``Device`` as the right exception or behaviour."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.device import Device, connect
from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
    ScreenshotError,
)
from emufleet.settings import GAME

COLORS = str(Path(__file__).resolve().parent / "data" / "colors" / "scenario.yaml")


@pytest.fixture
def inst(simulator: Callable[..., Any]) -> Any:
    return simulator(scenario=COLORS).instances[0]


@pytest.fixture
def dev(inst: Any) -> Device:
    device = Device(inst.serial, timeout_s=10)
    device.wait_ready(20)
    return device


@pytest.mark.parametrize("fast", [True, False])
def test_drop_mid_screencap_is_offline_then_recovers(inst: Any, fast: bool) -> None:
    dev = Device(inst.serial, fast=fast, timeout_s=10)
    inst.inject_fault("drop", on="screencap")
    with pytest.raises(DeviceOfflineError):
        dev.screenshot()
    dev.wait_ready(20)  # the server reconnects on its own or through disconnect + connect
    assert dev.screenshot().shape == (960, 540, 3)


def test_drop_mid_shell_is_offline(inst: Any, dev: Device) -> None:
    inst.inject_fault("drop", on="shell")
    with pytest.raises(DeviceOfflineError):
        dev.shell("echo hi")


def test_refuse_is_a_connect_error_and_offline_for_a_connected_device(inst: Any, dev: Device,
                                                                      adb_server: Any) -> None:
    inst.inject_fault("refuse")
    with pytest.raises(DeviceOfflineError):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server notices the cut connection within moments
            dev.shell("echo hi")
            time.sleep(0.05)
    adb_server.disconnect(inst.serial)
    with pytest.raises(DeviceConnectError, match="refused|failed"):
        connect(inst.serial, timeout_s=5)
    inst.clear_faults()
    connect(inst.serial, timeout_s=10).wait_ready(20)


def test_silent_handshake_is_a_connect_error(inst: Any, adb_server: Any) -> None:
    adb_server.disconnect(inst.serial)
    inst.inject_fault("silent")
    with pytest.raises(DeviceConnectError):
        connect(inst.serial, timeout_s=3)
    with pytest.raises(DeviceTimeoutError, match="not ready"):
        Device(inst.serial).wait_ready(timeout_s=2)


def test_reboot_waits_out_the_race_and_the_boot(inst: Any, dev: Device) -> None:
    inst.inject_fault("reboot", down_s=0.5, boot_s=1.0)
    with pytest.raises(DeviceTimeoutError, match="not ready"):
        dev.wait_ready(timeout_s=0.3)  # down or booting: boot_completed is not "1" yet
    dev.wait_ready(timeout_s=30)
    assert dev.getprop("sys.boot_completed") == "1"
    assert any(e.kind == "reboot" for e in inst.events)


def test_reboot_through_the_device(inst: Any, dev: Device) -> None:
    dev.reboot(timeout_s=60)
    assert dev.getprop("sys.boot_completed") == "1"
    assert [e for e in inst.events if e.kind == "reboot"]


def test_black_screen_is_a_screenshot_error(inst: Any, dev: Device) -> None:
    inst.inject_fault("black_screen")
    with pytest.raises(ScreenshotError, match="black"):
        dev.screenshot()
    frame = dev.screenshot(allow_black=True)
    assert frame.shape == (960, 540, 3) and not frame.any()
    inst.clear_faults()
    assert dev.screenshot().any()


@pytest.mark.parametrize("method", ["raw", "png"])
def test_corrupt_screen_is_a_screenshot_error(inst: Any, method: str) -> None:
    inst.inject_fault("corrupt_screen")
    with pytest.raises(ScreenshotError):
        Device(inst.serial, screenshot_method=method).screenshot()  # type: ignore[arg-type]


def test_latency_beyond_the_timeout_is_a_timeout(inst: Any, dev: Device) -> None:
    inst.inject_fault("latency", shell_ms=1500)
    with pytest.raises(DeviceTimeoutError):
        dev.shell("echo slow", timeout_s=0.3)
    assert dev.shell("echo slow", timeout_s=10).output == "slow\n"
    inst.clear_faults()


def test_crash_returns_to_the_launcher(inst: Any, dev: Device) -> None:
    dev.app_start(GAME.package, GAME.activity)
    assert dev.foreground_app() == GAME.package
    inst.inject_fault("crash")
    assert dev.foreground_app() != GAME.package
    assert not dev.shell(f"pidof {GAME.package}").ok
    assert inst.state == "red"


def test_errors_carry_the_serial(inst: Any, dev: Device) -> None:
    inst.inject_fault("drop", on="shell")
    with pytest.raises(DeviceError) as err:
        dev.shell("echo hi")
    assert err.value.serial == inst.serial
    assert isinstance(err.value.__cause__, Exception)  # raised from the adbutils/socket error
