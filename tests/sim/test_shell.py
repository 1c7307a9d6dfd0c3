"""The fake sh: quoting, sequencing, redirects, permissions and the Android commands (reference §3.6)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from emufleet.sim.device import DeviceModel
from emufleet.sim.shellparse import ShellSyntaxError, parse
from tests.sim.helpers import PACKAGE, PREFS, run


def test_sequencing_and_exit_status(device: DeviceModel) -> None:
    assert run(device, "false; echo $?").stdout == b"1\n"
    assert run(device, "true && echo yes || echo no").stdout == b"yes\n"
    assert run(device, "false && echo yes || echo no").stdout == b"no\n"
    assert run(device, "false || false; echo X4EXIT:$?").stdout == b"X4EXIT:1\n"  # adbutils' shell2 suffix
    assert run(device, "exit 3").exit_code == 3
    assert run(device, "exit 3; echo unreachable").stdout == b""
    assert run(device, "! false").exit_code == 0


def test_posix_quoting(device: DeviceModel) -> None:
    assert run(device, "echo 'a  b' \"c $? d\" e\\ f").stdout == b"a  b c 0 d e f\n"
    assert run(device, "echo '$?' \"\\$x\"").stdout == b"$? $x\n"
    assert run(device, "echo a'b'\"c\"").stdout == b"abc\n"
    assert run(device, "echo '' x").stdout == b" x\n"
    assert run(device, "echo $UNSET x").stdout == b"x\n"
    assert run(device, "echo 2>/dev/null x").stdout == b"x\n"
    assert run(device, "echo 2 >/dev/null").stdout == b""  # "2" is an argument here, not an fd


def test_syntax_errors_exit_2(device: DeviceModel) -> None:
    result = run(device, "echo 'unterminated")
    assert result.exit_code == 2 and b"unterminated" in result.stderr
    with pytest.raises(ShellSyntaxError):
        parse("; echo")
    with pytest.raises(ShellSyntaxError):
        parse("echo >")


def test_unknown_command_is_127(device: DeviceModel) -> None:
    result = run(device, "frobnicate --now")
    assert result.exit_code == 127
    assert result.stderr == b"/system/bin/sh: frobnicate: not found\n"


def test_redirects_and_pipes(device: DeviceModel) -> None:
    assert run(device, "echo one > /sdcard/f.txt && echo two >> /sdcard/f.txt").exit_code == 0
    assert run(device, "cat /sdcard/f.txt").stdout == b"one\ntwo\n"
    assert run(device, "cat /sdcard/f.txt | grep tw").stdout == b"two\n"
    assert run(device, "cat /sdcard/f.txt | grep -v tw | grep -c o").stdout == b"1\n"
    assert run(device, "cat /sdcard/f.txt | grep nothing").exit_code == 1
    assert run(device, "cat /nope 2>/dev/null").merged == b""
    merged = run(device, "cat /nope > /sdcard/err.txt 2>&1")
    assert merged.merged == b"" and b"No such file" in device.files.read("/sdcard/err.txt")
    assert run(device, "grep one < /sdcard/f.txt").stdout == b"one\n"


def test_data_data_needs_su(device: DeviceModel) -> None:
    device.files.write("/sdcard/acc.xml", b"<map/>")
    denied = run(device, f"cp /sdcard/acc.xml '{PREFS}'")
    assert denied.exit_code == 1 and b"Permission denied" in denied.stderr
    assert run(device, f"echo x > '{PREFS}'").exit_code == 1
    assert not device.files.exists(PREFS)
    assert run(device, f"su -c 'cp /sdcard/acc.xml {PREFS}'").exit_code == 0
    assert device.files.read(PREFS, root=True) == b"<map/>"
    assert run(device, f"su 0 cat '{PREFS}'").stdout == b"<map/>"
    assert run(device, f"echo 'cat {PREFS}' | su").stdout == b"<map/>"
    assert run(device, f"sh -c 'su -c \"ls /data/data/{PACKAGE}/shared_prefs\"'").stdout == b"deviceAccount:.xml\n"
    assert run(device, "id").stdout.startswith(b"uid=2000(shell)")
    assert run(device, "su -c id").stdout.startswith(b"uid=0(root)")
    assert {e.detail["path"] for e in device.events if e.kind == "file"} >= {"/sdcard/acc.xml", PREFS}


def test_file_commands(device: DeviceModel) -> None:
    assert run(device, "mkdir /sdcard/a/b").exit_code == 1
    assert run(device, "mkdir -p /sdcard/a/b && touch /sdcard/a/b/c && ls /sdcard/a/b").stdout == b"c\n"
    assert run(device, "test -d /sdcard/a && test -f /sdcard/a/b/c && test ! -e /sdcard/zz").exit_code == 0
    assert run(device, "[ -f /sdcard/a ]").exit_code == 1
    assert run(device, "mv /sdcard/a/b/c /sdcard/a/d && ls /sdcard/a").stdout == b"b\nd\n"
    assert run(device, "chmod 600 /sdcard/a/d && ls -l /sdcard/a/d").stdout.startswith(b"-rw------- ")
    assert run(device, "rm /sdcard/a").exit_code == 1  # a folder needs -r
    assert run(device, "rm -rf /sdcard/a /sdcard/missing; test -e /sdcard/a").exit_code == 1
    assert run(device, "rm /sdcard/missing").exit_code == 1
    assert run(device, "ls /storage/emulated/0").stdout == run(device, "ls /sdcard").stdout
    assert run(device, "echo hi > /sdcard/g1.txt; echo ho > /sdcard/g2.txt; cat /sdcard/g*.txt").stdout == b"hi\nho\n"


def test_input_text_is_literal(device: DeviceModel) -> None:
    device.files.write("/sdcard/keep.txt", b"keep")
    result = run(device, "input text '; rm -rf /sdcard/keep.txt'")
    assert result.exit_code == 0
    assert device.files.read("/sdcard/keep.txt") == b"keep"
    texts = [e.detail["text"] for e in device.events if e.kind == "text"]
    assert texts == ["; rm -rf /sdcard/keep.txt"]
    run(device, "input text 'a%sb$?'")
    assert device.events[-1].detail["text"] == "a b$?"


def test_props_and_boot(device: DeviceModel) -> None:
    assert run(device, "getprop sys.boot_completed").stdout == b"1\n"
    assert run(device, "getprop ro.build.version.sdk").stdout == b"32\n"
    assert run(device, "getprop no.such.prop fallback").stdout == b"fallback\n"
    assert run(device, "setprop debug.sim 7 && getprop debug.sim").stdout == b"7\n"
    assert run(device, "setprop ro.product.model X").exit_code == 1
    assert b"[sys.boot_completed]: [1]" in run(device, "getprop").stdout
    device.reboot(down_s=0.0, boot_s=60.0)
    assert run(device, "getprop sys.boot_completed").stdout == b"\n"  # "" while booting, never "0"


def test_window_and_display(device: DeviceModel) -> None:
    assert run(device, "wm size").stdout == b"Physical size: 540x960\n"
    display = run(device, "dumpsys display").stdout.decode()
    assert "orientation=0" in display.splitlines()[0] and "deviceWidth=540" in display
    assert "mCurrentFocus=Window{5e1f2a3 u0 com.mumu.launcher/" in run(device, "dumpsys window windows").stdout.decode()
    assert run(device, "dumpsys SurfaceFlinger --display-id").stdout.startswith(b"Display ")


def test_screencap_png_raw_and_file(device: DeviceModel) -> None:
    png = run(device, "screencap -p").stdout
    frame = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (960, 540, 3)
    raw = run(device, "screencap").stdout
    w, h, fmt, space = struct.unpack("<4I", raw[:16])
    assert (w, h, fmt, space) == (540, 960, 1, 1) and len(raw) == 16 + 540 * 960 * 4
    rgba = np.frombuffer(raw[16:], np.uint8).reshape(960, 540, 4)
    assert np.array_equal(rgba[:, :, 2::-1], frame)  # RGBA → BGR equals the PNG
    assert run(device, "screencap -p /sdcard/s.png").stdout == b""
    assert device.files.read("/sdcard/s.png") == png


def test_app_lifecycle_commands(device: DeviceModel) -> None:
    assert run(device, f"pidof {PACKAGE}").exit_code == 1
    started = run(device, f"am start -W -n {PACKAGE}/.MainActivity -f 0x10018000")
    assert started.exit_code == 0 and b"Status: ok" in started.stdout
    assert device.state == "splash"
    pid = run(device, f"pidof {PACKAGE}").stdout.strip()
    assert pid.isdigit()
    focus = run(device, "dumpsys window").stdout.decode()
    assert f"u0 {PACKAGE}/{PACKAGE}.MainActivity}}" in focus
    assert run(device, f"am force-stop {PACKAGE}").exit_code == 0
    assert device.state == "launcher" and run(device, f"pidof {PACKAGE}").stdout == b""
    assert run(device, f"monkey -p {PACKAGE} -c android.intent.category.LAUNCHER 1").exit_code == 0
    assert device.state == "splash"
    assert run(device, "monkey -p not.installed 1").exit_code == 252
    assert run(device, "am start -n not.installed/.A").exit_code == 1
    device.files.write(f"/data/data/{PACKAGE}/shared_prefs/x.xml", b"x", root=True)
    assert run(device, f"pm clear {PACKAGE}").stdout == b"Success\n"
    assert not device.files.exists(f"/data/data/{PACKAGE}/shared_prefs/x.xml") and device.state == "launcher"
    kinds = [(e.kind, e.detail.get("action")) for e in device.events if e.kind in ("am", "monkey", "pm")]
    assert kinds == [("am", "start"), ("am", "force-stop"), ("monkey", None), ("monkey", None), ("am", "start"),
                     ("pm", "clear")]


def test_input_events(device: DeviceModel) -> None:
    assert run(device, "input tap 10 20 && input swipe 1 2 3 4 500 && input keyevent KEYCODE_BACK 66").exit_code == 0
    events = [(e.kind, e.detail) for e in device.events if e.kind in ("tap", "swipe", "key")]
    assert events[0] == ("tap", {"x": 10, "y": 20, "state": "launcher"})
    assert events[1][1] | {} == {"x1": 1, "y1": 2, "x2": 3, "y2": 4, "ms": 500, "state": "launcher"}
    assert [d["key"] for k, d in events[2:]] == ["KEYCODE_BACK", "KEYCODE_ENTER"]
    assert run(device, "input bogus").exit_code == 1


def test_assignments_before_a_command_are_its_environment(device: DeviceModel) -> None:
    assert run(device, "A=5 echo $A; echo ${A}").stdout == b"\n\n"  # expanded before the assignment applies
    assert run(device, "A=5 B=6 sh -c 'echo $A$B'; echo [$A]").stdout == b"56\n[]\n"
    assert run(device, "A=5; echo $A").stdout == b"5\n"  # alone, an assignment sets a shell variable
    assert run(device, "echo A=5").stdout == b"A=5\n"  # an argument, not an assignment


def test_input_events_name_their_origin(device: DeviceModel) -> None:
    run(device, "EMUFLEET_ORIGIN=launch-1 input tap 10 20 && input keyevent KEYCODE_BACK && "
                "EMUFLEET_ORIGIN=launch-2 input swipe 1 2 3 4 && EMUFLEET_ORIGIN=launch-2 input text hi")
    origins = [(e.kind, e.detail.get("origin")) for e in device.events if e.kind in ("tap", "key", "swipe", "text")]
    assert origins == [("tap", "launch-1"), ("key", None), ("swipe", "launch-2"), ("text", "launch-2")]
