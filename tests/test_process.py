"""Process liveness (``emufleet.process``) against real child processes (Linux ``/proc`` shows the zombie)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from emufleet.process import pid_alive, reap_child


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_an_exited_child_is_alive_until_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    assert pid_alive(child.pid) and pid_alive(child.pid, reap=True)
    assert not reap_child(child.pid)  # still running: nothing to collect
    child.stdin.close()  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while _state(child.pid) != "Z" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pid_alive(child.pid)  # a zombie still has its pid
    assert not pid_alive(child.pid, reap=True)
    assert not pid_alive(child.pid) and not reap_child(child.pid)
    child.poll()  # Popen learns the child is gone (ECHILD), so it does not warn at collection


def test_a_process_that_is_not_our_child_is_not_reaped() -> None:
    assert pid_alive(1) and not reap_child(1)
