"""Issue 23 item 8: ``emufleet server start`` with ``PREFECT_API_URL`` exported (as the docs say) starts the server
at that URL, and ``server status`` shows its pid. On e7a0ec7 it printed "already running (pid None)" while nothing
listened."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emufleet.process import pid_alive
from emufleet.sim.adbserver import free_port

EMUFLEET = str(Path(sys.executable).with_name("emufleet"))


def _emufleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EMUFLEET, *args], capture_output=True, text=True, env=env, timeout=240, check=False)


@pytest.mark.slow
def test_server_start_with_the_url_exported_starts_it_there(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_API_URL": url, "EMUFLEET_STATE_DIR": str(tmp_path / "state")}
    started = _emufleet("server", "start", "--timeout", "200", env=env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"http://127.0.0.1:{port}" in started.stdout and "already running" not in started.stdout
        status = _emufleet("server", "status", env=env)
        assert status.returncode == 0 and status.stdout.startswith(url) and "healthy" in status.stdout, status.stdout
        pid = int(status.stdout.split("pid=")[1].split()[0])  # the pid, not "-"
        assert pid_alive(pid)
        again = _emufleet("server", "start", env=env)
        assert again.returncode == 0 and f"already running: {url} (pid {pid}," in again.stdout, again.stdout
    finally:
        stopped = _emufleet("server", "stop", env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_alive(pid)


def test_an_exported_remote_url_that_does_not_answer_is_an_error(tmp_path: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
           "PREFECT_API_URL": "http://192.0.2.1:4200/api", "EMUFLEET_STATE_DIR": str(tmp_path / "state")}
    result = _emufleet("server", "start", env=env)
    assert result.returncode == 1 and "does not answer, and it is not on this machine" in result.stderr, result.stderr
