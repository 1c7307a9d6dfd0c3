"""Process control on every platform emufleet runs on (Linux, macOS, Windows emulator hosts): the one module that
starts detached processes, tells whether one lives, and stops a process tree. Nothing else in emufleet sends
signals or spawns background processes by hand.

* :func:`spawn_detached`: a process meant to outlive us (the Prefect server, simulators, the console, the
  worker), with no terminal: a new session on POSIX (``posix_spawn`` with ``setsid``), ``DETACHED_PROCESS`` plus a
  new process group on Windows. Its output goes to a log file.
* :func:`pid_alive`: liveness **without signals** where a signal would do harm: ``os.kill(pid, 0)`` on Windows is
  ``CTRL_C_EVENT`` sent to that process group, so it could interrupt the very server it asks about. psutil asks
  the OS (``OpenProcess`` on Windows, signal 0 on POSIX, where it only checks).
* :func:`stop_tree`: the process and its descendants, politely then for good (SIGTERM, then SIGKILL after a
  grace period, on POSIX; ``TerminateProcess`` on Windows, where a detached process has no console to receive a
  ``CTRL_BREAK_EVENT``).
* :func:`started_at`: when a pid's process was created, so that a pid recorded in a file is not mistaken for a
  later process that reuses the number (and so that status can report uptime).

An exited child of *this* process stays a zombie, and so "alive" on POSIX, until it is waited for: pass
``reap=True`` when the pid may be our own child (a process we started and did not keep a handle of).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psutil

__all__ = ["pid_alive", "reap_child", "spawn_detached", "started_at", "stop_tree", "unwind_on_sigterm"]

# Windows keeps the handle of each process we started here: a dropped ``Popen`` of a running child warns
# (ResourceWarning) when garbage-collected. POSIX uses posix_spawn, which returns a bare pid.
_WINDOWS_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def spawn_detached(args: Sequence[str], log: Path, *, env: Mapping[str, str] | None = None) -> int:
    """Start a process meant to outlive us: no terminal, stdin from the null device, output appended to ``log``.

    Args:
        args: the command; ``args[0]`` must be an absolute path (``sys.executable``).
        log: file its stdout and stderr are appended to (created).
        env: its whole environment (default: ours).

    Returns:
        Its pid (the caller records it in a pid file). On POSIX it leads a new session (``pgid == pid``), so Ctrl-C
        in our terminal does not reach it; on Windows it has no console and its own process group.

    Raises:
        OSError: the program could not be started.
    """
    environ = dict(os.environ if env is None else env)
    with open(log, "ab") as out:
        if sys.platform == "win32":
            flags = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.DETACHED_PROCESS
            proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    env=environ, creationflags=flags)
            _WINDOWS_CHILDREN[proc.pid] = proc
            return proc.pid
        # posix_spawn rather than a Popen whose handle we would drop (a ResourceWarning when collected)
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                   (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
        return os.posix_spawn(args[0], list(args), environ, file_actions=actions, setsid=True)


def reap_child(pid: int) -> bool:
    """Collect ``pid``'s exit status if it is our own exited child; ``True`` when it was collected.

    A no-op returning ``False`` for a running child or another process's pid (and on Windows, where an exited
    process leaves no zombie).
    """
    if sys.platform == "win32":
        proc = _WINDOWS_CHILDREN.get(pid)
        if proc is not None and proc.poll() is not None:
            del _WINDOWS_CHILDREN[pid]
            return True
        return False
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:  # not our child (or already collected)
        return False


def pid_alive(pid: int, *, reap: bool = False, started: float | None = None) -> bool:
    """Whether process ``pid`` exists; sends no signal on Windows.

    Args:
        pid: the process id.
        reap: collect our own exited child first (it then counts as dead; see the module docstring).
        started: the creation time recorded with the pid (:func:`started_at`); a process with that pid but
            another creation time is a later process reusing the number and counts as dead.
    """
    if reap and reap_child(pid):
        return False
    if pid <= 0 or not psutil.pid_exists(pid):
        return False
    if started is None:
        return True
    created = started_at(pid)
    return created is not None and abs(created - started) < 1.0


def started_at(pid: int) -> float | None:
    """When ``pid``'s process was created (seconds since the epoch), ``None`` when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def stop_tree(pid: int, *, timeout_s: float = 10.0) -> bool:
    """Stop process ``pid`` and every descendant: terminate all (the root first, so it can shut down in order),
    wait up to ``timeout_s`` seconds, then kill what is left and wait up to 5 s more.

    Exited children of ours are collected (no zombie stays behind). A process owned by another user is left
    alone. Returns ``True`` when nothing of the tree is left running (also when ``pid`` did not exist).
    """
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        reap_child(pid)
        return True
    except psutil.AccessDenied:
        return not pid_alive(pid)
    for proc in tree:
        try:
            proc.terminate()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _gone, alive = psutil.wait_procs(tree, timeout=max(timeout_s, 0.0))
    for proc in alive:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    _gone, alive = psutil.wait_procs(alive, timeout=5.0)
    reap_child(pid)
    return not alive


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def unwind_on_sigterm() -> None:
    """From now on SIGTERM (``timeout``, CI cancelling a job; ``CTRL_BREAK`` on Windows) raises
    :class:`KeyboardInterrupt` in the main thread like Ctrl-C, so ``finally`` blocks and context managers stop what
    this process started (Python's default SIGTERM exits without unwinding)."""
    signal.signal(signal.SIGTERM, _interrupt)
    if sys.platform == "win32":
        signal.signal(signal.SIGBREAK, _interrupt)
