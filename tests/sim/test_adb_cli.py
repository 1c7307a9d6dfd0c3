"""The adb CLI (the bundled adb, via subprocess) against the simulator: connect, shell, exec-out, push, pull."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import adbutils
import cv2
import numpy as np
import pytest
from adbutils._utils import adb_path

from emufleet.sim import Simulator
from tests.conftest import wait_device_state
from tests.sim.helpers import BASIC


def adb(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    """Run the adb CLI against the session server (its port and HOME are in os.environ)."""
    return subprocess.run([adb_path(), *args], capture_output=True, timeout=60, check=check,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def serial(adb_server: adbutils.AdbClient, simulator: Callable[..., Simulator]) -> str:
    sim = simulator(instances=1, scenario=BASIC, connect=False)
    out = adb("connect", sim.instances[0].serial).stdout.decode()
    assert f"connected to {sim.instances[0].serial}" in out
    wait_device_state(adb_server, sim.instances[0].serial)
    return sim.instances[0].serial


def test_devices_and_shell(serial: str) -> None:
    listing = adb("devices", "-l").stdout.decode()
    assert f"{serial}" in listing and "model:MuMu" in listing and "device:mumu" in listing
    assert adb("-s", serial, "shell", "echo", "hi", "&&", "getprop", "ro.product.model").stdout == b"hi\nMuMu\n"
    assert adb("-s", serial, "shell", "false", check=False).returncode == 1  # shell_v2 carries the exit code
    missing = adb("-s", serial, "shell", "no-such-tool", check=False)
    assert missing.returncode == 127 and b"no-such-tool: not found" in missing.stderr
    assert adb("-s", serial, "shell", "echo err >&2").stderr == b"err\n"


def test_exec_out_screencap_png(serial: str) -> None:
    png = adb("-s", serial, "exec-out", "screencap", "-p").stdout  # sent as exec:screencap '-p'
    frame = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert frame is not None and frame.shape == (960, 540, 3)
    assert png == adb("-s", serial, "shell", "screencap", "-p").stdout


def test_push_pull(tmp_path: Path, serial: str) -> None:
    src = tmp_path / "acc.xml"
    src.write_bytes(b"<map>" + b"x" * 100_000 + b"</map>")
    pushed = adb("-s", serial, "push", str(src), "/sdcard/dir/acc.xml")  # STA2, SEND+DATA+DONE, QUIT
    assert b"1 file pushed" in pushed.stdout + pushed.stderr
    assert adb("-s", serial, "shell", "ls", "/sdcard/dir").stdout == b"acc.xml\n"
    dst = tmp_path / "back.xml"
    adb("-s", serial, "pull", "/sdcard/dir/acc.xml", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    denied = adb("-s", serial, "push", str(src), "/data/data/com.example.simgame/x.xml", check=False)
    assert denied.returncode != 0 and b"Permission denied" in denied.stderr + denied.stdout
    assert adb("-s", serial, "pull", "/sdcard/none", str(dst), check=False).returncode != 0


def test_root_is_refused_without_hanging(serial: str) -> None:
    out = adb("-s", serial, "root", check=False)
    assert b"cannot run as root" in out.stdout + out.stderr


def test_interactive_shell_reads_stdin(serial: str) -> None:
    script = b"echo hi\nsu\nid -u 2>/dev/null || id\nexit\nfalse\nexit 3\n"  # `exit` leaves su first
    result = subprocess.run([adb_path(), "-s", serial, "shell"], input=script, capture_output=True, timeout=60)
    assert result.returncode == 3
    assert result.stdout.startswith(b"hi\nuid=0(root)")


def test_adb_reboot_service(adb_server: adbutils.AdbClient, simulator: Callable[..., Simulator]) -> None:
    sim = simulator(instances=1, scenario=BASIC, reboot_down_s=0.2, reboot_boot_s=0.2)
    inst = sim.instances[0]
    inst.set_state("home")
    assert adb("-s", inst.serial, "reboot").returncode == 0  # the reboot: service, not shell reboot
    assert [e.kind for e in inst.events].count("reboot") == 1
    adb_server.wait_for(inst.serial, state="device", timeout=30)
    assert inst.state == "launcher"
