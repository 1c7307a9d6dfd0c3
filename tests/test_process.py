"""Process control (``emufleet.process``) against real processes: liveness (Linux ``/proc`` shows the zombie),
detached starts, stopping a tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from emufleet.process import pid_alive, reap_child, spawn_detached, started_at, stop_tree


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


_TREE = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stubborn parent: only the kill after the grace period stops it
child = subprocess.Popen([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"],
                         stdout=subprocess.PIPE, text=True)
child.stdout.readline()
print(child.pid, flush=True)
child.wait()
"""


def test_stop_tree_stops_a_parent_that_ignores_sigterm_and_its_child() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _TREE], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    grandchild = int(parent.stdout.readline())
    assert pid_alive(grandchild)
    assert stop_tree(parent.pid, timeout_s=0.5)
    assert not pid_alive(parent.pid) and not pid_alive(grandchild)  # the parent reaped too: no zombie left
    parent.stdout.close()
    parent.poll()


def test_spawn_detached_starts_a_session_leader_with_its_environment_and_log(tmp_path: Path) -> None:
    log = tmp_path / "child.log"
    code = "import os, sys, time; print(os.environ['EMUFLEET_X'], flush=True); sys.stdin.read(); time.sleep(600)"
    pid = spawn_detached([sys.executable, "-c", code], log, env={"EMUFLEET_X": "marker"})
    try:
        deadline = time.monotonic() + 60
        while "marker" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert log.read_text() == "marker\n"  # stdin is the null device: read() returned at once, it runs on
        assert os.getsid(pid) == pid and os.getpgid(pid) == pid
        started = started_at(pid)
        assert started is not None and pid_alive(pid, started=started)
        assert not pid_alive(pid, started=started - 100)  # a later process reusing the pid is not this one
    finally:
        assert stop_tree(pid)
    assert not pid_alive(pid) and started_at(pid) is None
