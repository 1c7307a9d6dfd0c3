"""``emufleet sim``: up (foreground and --detach), status, fault, state, events, down — as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import adbutils
import pytest

from tests.conftest import connect_serial, find_free_base_port
from tests.sim.helpers import BASIC, wait_until

CLI = [sys.executable, "-c", "from emufleet.cli import main; main()", "sim"]


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def sim_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, check=check,
                          stdin=subprocess.DEVNULL)


def test_detached_simulator_is_steered_and_stopped(state_dir: Path, adb_server: adbutils.AdbClient) -> None:
    base = find_free_base_port()
    up = sim_cli("up", "--instances", "2", "--scenario", str(BASIC), "--base-port", str(base), "--detach")
    serials = [f"127.0.0.1:{base}", f"127.0.0.1:{base + 32}"]
    assert " ".join(serials) in up.stdout
    record = json.loads((state_dir / f"sim-{base}.json").read_text())
    pid = int((state_dir / f"sim-{base}.pid").read_text())
    assert record["pid"] == pid and record["serials"] == serials
    try:
        for serial in serials:
            connect_serial(adb_server, serial)
        dev = adb_server.device(serials[1])
        assert "launcher" in sim_cli("status").stdout
        assert sim_cli("state", serials[1], "home").stdout.strip() == "home"
        assert dev.screenshot(error_ok=False).getpixel((3, 3)) == (0x30, 0xA0, 0x50)
        out = sim_cli("fault", serials[1], "black_screen").stdout
        assert '"black_screen": true' in out
        assert dev.screenshot(error_ok=False).getextrema() == ((0, 0), (0, 0), (0, 0))
        sim_cli("fault", serials[1], "clear")
        assert dev.screenshot(error_ok=False).getpixel((3, 3)) == (0x30, 0xA0, 0x50)
        bad = sim_cli("fault", serials[1], "latency", "warp_ms=3", check=False)
        assert bad.returncode == 1 and "no option 'warp_ms'" in bad.stderr
        unknown = sim_cli("fault", "127.0.0.1:1", "crash", check=False)
        assert unknown.returncode == 1 and "no running simulator serves 127.0.0.1:1" in unknown.stderr
        events = [json.loads(line) for line in sim_cli("events", serials[1]).stdout.splitlines()]
        assert [e["kind"] for e in events] == ["state", "fault", "fault"]
        frozen = sim_cli("fault", serials[0], "frozen", "cleared_by=reboot").stdout
        assert '"frozen": {"cleared_by": "reboot"}' in frozen
        no_art = sim_cli("fault", serials[0], "popup_storm", "interval_s=1", check=False)  # the basic scenario
        assert no_art.returncode == 1 and "needs the scenario's 'dialogs.popup'" in no_art.stderr
    finally:
        down = sim_cli("down", check=False)
    assert down.returncode == 0 and f"stopped simulator pid {pid}" in down.stdout
    assert not (state_dir / f"sim-{base}.json").exists() and not (state_dir / f"sim-{base}.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert sim_cli("down", check=False).returncode == 1  # nothing left to stop


def test_foreground_simulator_stops_on_ctrl_c(state_dir: Path) -> None:
    base = find_free_base_port()
    proc = subprocess.Popen([*CLI, "up", "--scenario", str(BASIC), "--base-port", str(base)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        wait_until(lambda: (state_dir / f"sim-{base}.json").exists() or proc.poll() is not None,
                   timeout_s=30, what="the simulator to start")
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reaped: a killed Popen left unwaited warns when collected
    assert proc.returncode == 0, err
    assert f"serving 127.0.0.1:{base}" in out and "simulator stopped" in out
    assert not (state_dir / f"sim-{base}.json").exists()


def test_bad_scenario_is_reported(state_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\ninitial: nowhere\nstates:\n  a: {image: '#000000'}\n")
    result = sim_cli("up", "--scenario", str(bad), "--base-port", str(find_free_base_port()), check=False)
    assert result.returncode == 1
    assert "bad.yaml:3:10: initial: unknown state 'nowhere'" in result.stderr


def test_devices_lists_a_fresh_simulator_without_connect(state_dir: Path, adb_server: adbutils.AdbClient) -> None:
    from typer.testing import CliRunner

    from emufleet.cli import app

    base = find_free_base_port()
    sim_cli("up", "--instances", "2", "--scenario", str(BASIC), "--base-port", str(base), "--detach")
    try:
        listed = CliRunner().invoke(app, ["devices"], terminal_width=200)
        assert listed.exit_code == 0, listed.output
        for serial in (f"127.0.0.1:{base}", f"127.0.0.1:{base + 32}"):
            line = next(ln for ln in listed.output.splitlines() if serial in ln)
            assert "device" in line and "540x960" in line
    finally:
        sim_cli("down", check=False)
