"""Every fault kind of the simulator reaches ``Device`` as the right exception or behaviour."""

from __future__ import annotations

import time
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


@pytest.mark.parametrize("fast", [True, False])
def test_drop_mid_screencap_is_offline_then_recovers(colors: Any, fast: bool) -> None:
    dev = Device(colors.serial, fast=fast, timeout_s=10)
    colors.inject_fault("drop", on="screencap")
    with pytest.raises(DeviceOfflineError):
        dev.screenshot()
    dev.wait_ready(20)  # the server reconnects on its own or through disconnect + connect
    assert dev.screenshot().shape == (960, 540, 3)


def test_drop_mid_shell_is_offline(colors: Any, dev: Device) -> None:
    colors.inject_fault("drop", on="shell")
    with pytest.raises(DeviceOfflineError):
        dev.shell("echo hi")


def test_refuse_is_a_connect_error_and_offline_for_a_connected_device(colors: Any, dev: Device,
                                                                      adb_server: Any) -> None:
    colors.inject_fault("refuse")
    with pytest.raises(DeviceOfflineError):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # the server notices the cut connection within moments
            dev.shell("echo hi")
            time.sleep(0.05)
    adb_server.disconnect(colors.serial)
    with pytest.raises(DeviceConnectError, match="refused|failed"):
        connect(colors.serial, timeout_s=5)
    colors.clear_faults()
    connect(colors.serial, timeout_s=10).wait_ready(20)


def test_silent_handshake_is_a_connect_error(colors: Any, adb_server: Any) -> None:
    adb_server.disconnect(colors.serial)
    colors.inject_fault("silent")
    with pytest.raises(DeviceConnectError):
        connect(colors.serial, timeout_s=3)
    with pytest.raises(DeviceTimeoutError, match="not ready"):
        Device(colors.serial).wait_ready(timeout_s=2)


def test_reboot_waits_out_the_race_and_the_boot(colors: Any, dev: Device) -> None:
    colors.inject_fault("reboot", down_s=0.5, boot_s=1.0)
    with pytest.raises(DeviceTimeoutError, match="not ready"):
        dev.wait_ready(timeout_s=0.3)  # down or booting: boot_completed is not "1" yet
    dev.wait_ready(timeout_s=30)
    assert dev.getprop("sys.boot_completed") == "1"
    assert any(e.kind == "reboot" for e in colors.events)


def test_reboot_through_the_device(colors: Any, dev: Device) -> None:
    dev.reboot(timeout_s=60)
    assert dev.getprop("sys.boot_completed") == "1"
    assert [e for e in colors.events if e.kind == "reboot"]


def test_black_screen_is_a_screenshot_error(colors: Any, dev: Device) -> None:
    colors.inject_fault("black_screen")
    with pytest.raises(ScreenshotError, match="black"):
        dev.screenshot()
    frame = dev.screenshot(allow_black=True)
    assert frame.shape == (960, 540, 3) and not frame.any()
    colors.clear_faults()
    assert dev.screenshot().any()


@pytest.mark.parametrize("method", ["raw", "png"])
def test_corrupt_screen_is_a_screenshot_error(colors: Any, method: str) -> None:
    colors.inject_fault("corrupt_screen")
    with pytest.raises(ScreenshotError):
        Device(colors.serial, screenshot_method=method).screenshot()  # type: ignore[arg-type]


def test_latency_beyond_the_timeout_is_a_timeout(colors: Any, dev: Device) -> None:
    colors.inject_fault("latency", shell_ms=1500)
    with pytest.raises(DeviceTimeoutError):
        dev.shell("echo slow", timeout_s=0.3)
    assert dev.shell("echo slow", timeout_s=10).output == "slow\n"
    colors.clear_faults()


def test_crash_returns_to_the_launcher(colors: Any, dev: Device) -> None:
    dev.app_start(GAME.package, GAME.activity)
    assert dev.foreground_app() == GAME.package
    colors.inject_fault("crash")
    assert dev.foreground_app() != GAME.package
    assert not dev.shell(f"pidof {GAME.package}").ok
    assert colors.state == "red"


def test_errors_carry_the_serial(colors: Any, dev: Device) -> None:
    colors.inject_fault("drop", on="shell")
    with pytest.raises(DeviceError) as err:
        dev.shell("echo hi")
    assert err.value.serial == colors.serial
    assert isinstance(err.value.__cause__, Exception)  # raised from the adbutils/socket error
