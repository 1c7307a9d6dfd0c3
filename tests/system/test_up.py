"""``emufleet up`` / ``status`` / ``down`` against the real parts: the CLI in a subprocess starts a real SQLite
database, adb server, simulated instance, console and Prefect worker (the Prefect server is the session's, named by
``PREFECT_API_URL``: checked, never started or stopped), the console serves the same health model, a killed worker
makes the system Degraded, and ``down`` leaves nothing running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from emufleet.process import pid_alive, stop_tree
from emufleet.sim.adbserver import adb_server_running, find_free_base_port, free_port

pytestmark = pytest.mark.prefect

CLI = [sys.executable, "-c", "from emufleet.cli import main; main()"]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=400, check=False)


def test_up_status_down_with_the_real_parts(tmp_path: Path, prefect_server: Any) -> None:
    adb_port, base, console_port = free_port(), find_free_base_port(1), free_port()
    env = {**os.environ, "EMUFLEET_STATE_DIR": str(tmp_path / "state"), "HOME": str(tmp_path / "home"),
           "ANDROID_ADB_SERVER_PORT": str(adb_port), "EMUFLEET_HOST": f"up-{uuid.uuid4().hex[:8]}"}
    (tmp_path / "home").mkdir()
    system = tmp_path / "state" / "system"
    try:
        up = _cli(env, "up", "--instances", "1", "--base-port", str(base), "--console-port", str(console_port))
        assert up.returncode == 0, up.stdout + up.stderr
        lines = up.stdout.splitlines()
        first = lines.index("system: Healthy")
        assert [ln.split()[0] for ln in lines[first + 1:first + 8]] == \
            ["host", "database", "prefect", "adb", "emulator", "console", "worker"]
        assert "(external)" in lines[first + 3]  # PREFECT_API_URL: used, not started
        assert lines[-1].startswith("emufleet up: system up in ") and lines[-1].endswith(" s (Healthy)")
        assert adb_server_running(adb_port)

        status = _cli(env, "status")
        assert status.returncode == 0 and status.stdout.splitlines()[0] == "system: Healthy", status.stdout
        model = httpx.get(f"http://127.0.0.1:{console_port}/api/system", timeout=60).json()
        assert model["status"] == "Healthy"
        assert [c["name"] for c in model["components"]] == ["host", "database", "prefect", "adb", "emulator",
                                                             "console", "worker"]
        assert all(c["state"] == "running" for c in model["components"])
        ready = httpx.get(f"http://127.0.0.1:{console_port}/ready", timeout=60).json()
        assert ready["system"]["status"] == "Healthy"

        worker = json.loads((system / "worker.json").read_text())["pid"]
        assert stop_tree(worker, timeout_s=0)  # the worker dies without a word
        degraded = _cli(env, "status")
        assert degraded.returncode == 1
        assert degraded.stdout.splitlines()[0] == "system: Degraded (not running: worker)", degraded.stdout

        again = _cli(env, "up", "--no-console")  # a second up starts only what is missing: the worker
        assert again.returncode == 0, again.stdout + again.stderr
        assert "ok  worker: emufleet-up-" in again.stdout and "console: " not in again.stdout
        assert "emulator: already running" in again.stdout
    finally:
        console = json.loads((system / "console.json").read_text())["pid"] if (system / "console.json").exists() \
            else None
        sim_pid = int((tmp_path / "state" / "simulator" / "instance-0.pid").read_text())
        down = _cli(env, "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "prefect: external" in down.stdout and "left running" in down.stdout
    assert console is not None and not pid_alive(console) and not pid_alive(sim_pid)
    assert not adb_server_running(adb_port)
    assert not (system / "console.json").exists() and not (system / "worker.json").exists()
    assert not [p for p in psutil.process_iter(["cmdline"]) if f"emufleet-{env['EMUFLEET_HOST']}" in
                " ".join(p.info["cmdline"] or [])]
    after = _cli(env, "status")
    assert after.returncode == 1 and after.stdout.startswith("system: Critical (not running: adb, emulator)")
