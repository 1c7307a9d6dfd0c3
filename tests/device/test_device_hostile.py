"""Hostile paths and broken streams reach ``Device`` callers as clear ``DeviceError`` s, never adbutils' own."""

from __future__ import annotations

from typing import Any

import pytest

from emufleet.device import Device
from emufleet.device._adb import MAX_REMOTE_PATH
from emufleet.errors import DeviceError, DeviceOfflineError

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("path", "message"), [
    ("/sdcard/a\0b", "contains a NUL byte"),
    ("/sdcard/" + "x" * 5000, f"adb carries at most {MAX_REMOTE_PATH}"),
    ("/sdcard/\ud800", "not valid Unicode"),
    ("", "non-empty string"),
])
def test_paths_adb_cannot_carry_are_refused_before_adbutils(dev: Device, path: str, message: str) -> None:
    for call in (lambda: dev.push(b"x", path), lambda: dev.pull(path)):
        with pytest.raises(DeviceError, match=message) as info:
            call()
        assert type(info.value) is DeviceError and info.value.serial == dev.serial
    dev.push(b"still fine", "/sdcard/ok.txt")  # the device is untouched
    assert dev.pull("/sdcard/ok.txt") == b"still fine"


def test_dot_dot_stays_inside_the_device_tree(colors: Any, dev: Device) -> None:
    dev.push(b"inside", "/sdcard/../../../../../escape.txt")
    assert dev.pull("/escape.txt") == b"inside"
    root = colors.device.files.root
    assert (root / "escape.txt").read_bytes() == b"inside" and not (root.parent / "escape.txt").exists()


def test_a_drop_mid_screencap_reports_the_bytes_received(colors: Any, dev: Device) -> None:
    colors.inject_fault("drop", on="screencap")
    with pytest.raises(DeviceOfflineError) as info:
        dev.screenshot()
    text = str(info.value)
    assert "connection dropped" in text and "bytes of output" in text and "Expected" not in text, text


def test_a_refused_push_says_so(dev: Device) -> None:
    with pytest.raises(DeviceError, match="refused by the device") as info:
        dev.push(b"x", "/data/data/jp.pokemon.pokemontcgp/shared_prefs/x.xml")
    assert "AdbError" not in str(info.value)


def test_a_drop_mid_push_or_pull_is_offline_with_a_message(colors: Any, dev: Device) -> None:
    dev.push(b"y" * 200_000, "/sdcard/big.bin")
    for call in (lambda: dev.push(b"x" * 200_000, "/sdcard/big.bin"), lambda: dev.pull("/sdcard/big.bin")):
        colors.inject_fault("drop", on="sync")
        with pytest.raises(DeviceOfflineError) as info:
            call()
        assert "AdbError" not in str(info.value) and "''" not in str(info.value), str(info.value)
        colors.clear_faults()
        dev.wait_ready(20)
