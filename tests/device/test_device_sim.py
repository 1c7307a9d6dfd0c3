"""``Device`` against simulated instances through the real adb server (fixtures in ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from emufleet.device import Device, DeviceLike, ShellResult, connect
from emufleet.errors import DeviceError, DeviceOfflineError, InputError, ShellError
from emufleet.settings import GAME

DEMO_SCREENS = Path(__file__).resolve().parents[2] / "emufleet" / "sim" / "scenarios" / "demo" / "screens"
BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}


def events(inst: Any, kind: str) -> list[dict[str, Any]]:
    return [e.detail for e in inst.events if e.kind == kind]


def test_device_satisfies_the_engine_protocol(dev: Device) -> None:
    assert isinstance(dev, DeviceLike)
    assert dev.adb_device.serial == dev.serial  # the typed escape hatch is the adbutils device


@pytest.mark.parametrize("method", ["raw", "png"])
def test_screenshot_is_bgr_of_the_current_state(colors: Any, method: str) -> None:
    dev = Device(colors.serial, screenshot_method=method)  # type: ignore[arg-type]
    for state in ("red", "blue"):
        colors.set_state(state)
        frame = dev.screenshot()
        assert frame.shape == (960, 540, 3) and frame.dtype == np.uint8
        assert tuple(int(v) for v in frame[480, 270]) == BGR[state]
        assert (frame == frame[0, 0]).all()


def test_screenshot_matches_the_demo_scenario_image(simulator: Callable[..., Any]) -> None:
    inst = simulator(scenario="demo").instances[0]
    expected = cv2.imread(str(DEMO_SCREENS / f"{inst.state}.png"), cv2.IMREAD_COLOR)
    assert expected is not None
    for method in ("raw", "png"):
        frame = Device(inst.serial, screenshot_method=method).screenshot()  # type: ignore[arg-type]
        assert np.array_equal(frame, expected), method


def test_input_reaches_the_device_as_events(colors: Any, dev: Device) -> None:
    dev.tap(100, 200)
    dev.swipe(10, 20, 30, 40, 150)
    dev.key_event("KEYCODE_HOME")
    taps, swipes = events(colors, "tap"), events(colors, "swipe")
    assert (taps[-1]["x"], taps[-1]["y"]) == (100, 200)
    assert colors.state == "blue"  # the tap hit the scenario's rect
    assert [swipes[-1][k] for k in ("x1", "y1", "x2", "y2", "ms")] == [10, 20, 30, 40, 150]
    assert events(colors, "key")[-1]["key"] == "KEYCODE_HOME"
    dev.key_event("KEYCODE_BACK")
    assert colors.state == "red"


@pytest.mark.parametrize("text", ["; rm -rf /", "a && touch /sdcard/pwned", "$(reboot)", "`id`",
                                  "it's \"quoted\"", "two words | cat"])
def test_input_text_arrives_literally_and_runs_nothing(colors: Any, dev: Device, text: str) -> None:
    colors.write_file("/sdcard/keep.txt", b"still here")
    dev.input_text(text)
    typed = events(colors, "text")[-1]["text"]
    assert typed.replace("%s", " ") == text
    assert colors.read_file("/sdcard/keep.txt") == b"still here"
    assert not dev.shell("test -e /sdcard/pwned").ok
    assert not events(colors, "reboot")
    assert dev.getprop("sys.boot_completed") == "1"


def test_input_text_refuses_what_input_cannot_type(dev: Device) -> None:
    with pytest.raises(InputError):
        dev.input_text("héllo")


def test_shell_exit_codes_and_check(dev: Device) -> None:
    assert dev.shell("echo hi") == ShellResult("hi\n", 0)
    assert dev.shell("false").exit_code == 1
    assert dev.shell("exit 3").exit_code == 3
    missing = dev.shell("no_such_tool")
    assert missing.exit_code == 127 and "not found" in missing.output
    with pytest.raises(ShellError) as err:
        dev.shell("exit 5", check=True)
    assert err.value.exit_code == 5 and err.value.serial == dev.serial


def test_su_runs_the_quoted_command_as_root(dev: Device) -> None:
    assert "uid=0" in dev.su("id").output
    assert dev.su("echo 'a b' && echo \"$((1+2))\" ; echo x", check=False).exit_code is not None
    with pytest.raises(ShellError):
        dev.su("exit 4")


def test_push_pull_round_trip_with_a_colon_in_the_name(colors: Any, dev: Device) -> None:
    data = b"<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map />\n" + bytes(range(256))
    dev.push(data, "/sdcard/emufleet/deviceAccount:.xml")
    assert dev.pull("/sdcard/emufleet/deviceAccount:.xml") == data
    assert colors.read_file("/sdcard/emufleet/deviceAccount:.xml") == data


def test_prefs_need_root_like_on_mumu(colors: Any, dev: Device) -> None:
    data = b"<map><string name=\"deviceAccount\">a</string></map>"
    with pytest.raises(DeviceError) as err:
        dev.push(data, GAME.prefs_path)
    assert not isinstance(err.value, DeviceOfflineError)
    dev.push(data, GAME.staging_path)
    dev.su(f"cp {GAME.staging_path} '{GAME.prefs_path}'")
    assert colors.read_file(GAME.prefs_path) == data
    assert dev.su(f"cat '{GAME.prefs_path}'").output.encode() == data


def test_pull_of_a_missing_file_is_a_device_error(dev: Device) -> None:
    with pytest.raises(DeviceError, match="/sdcard/nope") as err:
        dev.pull("/sdcard/nope")
    assert not isinstance(err.value, DeviceOfflineError)


def test_apps_window_size_and_props(colors: Any, dev: Device) -> None:
    assert dev.window_size() == (540, 960)
    assert dev.foreground_app() != GAME.package
    dev.app_start(GAME.package, GAME.activity, flags=GAME.launch_flags)
    assert dev.foreground_app() == GAME.package
    assert colors.state == "green"
    dev.app_stop(GAME.package)
    assert dev.foreground_app() != GAME.package
    assert colors.state == "red"
    dev.app_start(GAME.package)  # launcher intent through monkey
    assert dev.foreground_app() == GAME.package
    assert dev.getprop("ro.build.version.sdk").isdigit()


def test_fast_and_stock_paths_return_identical_results(colors: Any) -> None:
    fast, stock = Device(colors.serial, fast=True), Device(colors.serial, fast=False)
    fast.push(b"same bytes", "/sdcard/same.bin")
    for name, call in {
        "screenshot": lambda d: d.screenshot().tobytes(),
        "shell": lambda d: d.shell("echo hi; false"),
        "getprop": lambda d: d.getprop("ro.product.model"),
        "window_size": lambda d: d.window_size(),
        "foreground_app": lambda d: d.foreground_app(),
        "pull": lambda d: d.pull("/sdcard/same.bin"),
    }.items():
        assert call(fast) == call(stock), name


def test_fast_path_survives_a_reconnect(colors: Any, dev: Device, adb_server: Any) -> None:
    assert dev.shell("echo one").output == "one\n"
    stale = dev.adb_device._transport_id  # noqa: SLF001 - checking the mechanism itself
    adb_server.disconnect(colors.serial)
    connect(colors.serial, timeout_s=10)
    assert dev.shell("echo two").output == "two\n"  # re-resolved, not "no device with transport id"
    assert dev.adb_device._transport_id != stale  # noqa: SLF001
