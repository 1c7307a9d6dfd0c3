"""The simulator and adb backends against real simulated instances, and the CLI commands over them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.device.backends import AdbBackend, EmulatorBackend, SimulatorBackend, get_backend
from emufleet.errors import DeviceError, DeviceTimeoutError
from tests.device.conftest import COLORS


def test_attached_simulator_backend_stops_and_starts_instances(simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=2, scenario=COLORS)
    backend = get_backend("simulator", simulator=sim)
    assert isinstance(backend, EmulatorBackend)
    assert [(i.index, i.serial, i.running) for i in backend.list_instances()] == [
        (0, sim.instances[0].serial, True), (1, sim.instances[1].serial, True)]
    backend.stop(1)
    assert not backend.is_running(1)
    with pytest.raises(DeviceTimeoutError):
        AdbBackend([backend.serial(1)]).start(0, timeout_s=1.0)  # "off": it refuses connections
    device = backend.start(1, timeout_s=30)
    assert device.getprop("sys.boot_completed") == "1"
    assert backend.is_running(1)
    with pytest.raises(DeviceError, match="no instance 2"):
        backend.serial(2)


def test_adb_backend_connects_running_devices_only(simulator: Callable[..., Any], free_base_port: int) -> None:
    sim = simulator(scenario=COLORS, connect=False)
    backend = AdbBackend([sim.instances[0].serial, f"127.0.0.1:{free_base_port + 32}"])
    first, second = backend.list_instances()
    assert first.running and not second.running
    device = backend.start(0, timeout_s=20)
    assert device.shell("echo ok").output == "ok\n"
    with pytest.raises(DeviceTimeoutError):
        backend.start(1, timeout_s=1.0)  # nothing listens there and this backend cannot start it
    backend.stop(0)
    assert device.state() is None  # disconnected; the simulated emulator itself keeps running
    assert backend.is_running(0)


def test_adb_backend_port_formula() -> None:
    backend = AdbBackend(base_port=16384, count=3)
    assert [backend.serial(i) for i in range(3)] == ["127.0.0.1:16384", "127.0.0.1:16416", "127.0.0.1:16448"]


@pytest.fixture
def state_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "state"


def test_detached_simulator_processes(adb_server: Any, free_base_port: int, state_dir: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(state_dir / "emufleet"))
    backend = SimulatorBackend(instances=2, scenario=COLORS, base_port=free_base_port, state_dir=state_dir)
    assert [i.running for i in backend.list_instances()] == [False, False]
    try:
        device = backend.start(1, timeout_s=60)
        assert device.serial == f"127.0.0.1:{free_base_port + 32}"
        assert device.window_size() == (540, 960)
        infos = backend.list_instances()
        assert [i.running for i in infos] == [False, True]
        pid = infos[1].pid
        assert pid is not None and (state_dir / "instance-1.pid").read_text().strip() == str(pid)
        assert backend.start(1, timeout_s=30).serial == device.serial  # already running: no second process
        assert backend.list_instances()[1].pid == pid
        shown = CliRunner().invoke(app, ["sim", "status"], terminal_width=200)  # a launch's instances are visible
        assert shown.exit_code == 0 and device.serial in shown.output and f"pid {pid}" in shown.output
    finally:
        backend.stop(1)
    assert not backend.is_running(1)
    assert not (state_dir / "instance-1.pid").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_devices_command_lists_serial_state_size_and_app(simulator: Callable[..., Any]) -> None:
    sim = simulator(scenario=COLORS)
    result = CliRunner().invoke(app, ["devices"], terminal_width=200)
    assert result.exit_code == 0, result.output
    line = next(ln for ln in result.output.splitlines() if sim.instances[0].serial in ln)
    assert "device" in line and "540x960" in line and "com.mumu.launcher" in line


def test_devices_screenshot_writes_a_png_that_templates_match_reads(simulator: Callable[..., Any], tmp_path: Path,
                                                                    capfd: pytest.CaptureFixture[str]) -> None:
    import cv2

    sim = simulator(scenario=COLORS)
    target = tmp_path / "screen.png"
    shot = CliRunner().invoke(app, ["devices", "screenshot", sim.instances[0].serial, str(target)])
    assert shot.exit_code == 0, shot.output
    assert f"540×960 from {sim.instances[0].serial}" in shot.output
    image = cv2.imread(str(target))
    assert image is not None and image.shape == (960, 540, 3)
    bad = CliRunner().invoke(app, ["devices", "screenshot", "127.0.0.1:1", str(tmp_path / "x.png"), "--timeout", "2"])
    assert bad.exit_code == 1 and "error" in bad.output and not (tmp_path / "x.png").exists()
    matched = CliRunner().invoke(app, ["templates", "match", str(target)])
    assert matched.exit_code == 0 and "overlay:" in matched.output
    missing = CliRunner().invoke(app, ["templates", "match", str(tmp_path / "missing.png")])
    assert missing.exit_code == 2 and "devices screenshot" in missing.output
    assert "WARN" not in capfd.readouterr().err  # no OpenCV imread_ line before emufleet's own error


def test_devices_command_reports_a_failed_connect(free_base_port: int, adb_server: Any) -> None:
    result = CliRunner().invoke(app, ["devices", "--connect", f"127.0.0.1:{free_base_port}", "--timeout", "3"])
    assert result.exit_code == 1
    assert "error" in result.output


def test_instances_commands(simulator: Callable[..., Any], free_base_port: int) -> None:
    sim = simulator(scenario=COLORS, connect=False)
    serial = sim.instances[0].serial
    runner = CliRunner()
    listed = runner.invoke(app, ["instances", "list", "--backend", "adb", "--serial", serial], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    assert serial in listed.output and "yes" in listed.output
    started = runner.invoke(app, ["instances", "start", "0", "--backend", "adb", "--serial", serial])
    assert started.exit_code == 0, started.output
    assert f"instance 0 ready at {serial}" in started.output
    stopped = runner.invoke(app, ["instances", "stop", "0", "--backend", "adb", "--serial", serial])
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    bad = runner.invoke(app, ["instances", "list", "--backend", "nope"])
    assert bad.exit_code == 1 and "unknown emulator backend" in bad.output


def test_detached_instance_that_dies_fails_with_its_log(adb_server: Any, free_base_port: int,
                                                         state_dir: Path) -> None:
    backend = SimulatorBackend(instances=1, scenario="no-such-scenario", base_port=free_base_port,
                               state_dir=state_dir)
    with pytest.raises(DeviceError, match="exited during start-up") as err:
        backend.start(0, timeout_s=120)
    assert "no-such-scenario" in str(err.value)  # the simulator's own complaint, from the instance log
    backend.stop(0)
