"""Liveness of the processes emufleet records in pid files (simulators, simulated instances, the Prefect server).

POSIX semantics; a process owned by another user counts as alive. An exited child of *this* process stays a
zombie, and so "alive" to ``kill(pid, 0)``, until it is waited for: pass ``reap=True`` when the pid may be our own
child (a process we started with ``subprocess.Popen`` and did not keep the handle of).
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path

__all__ = ["pid_alive", "reap_child", "spawn_detached", "unwind_on_sigterm"]


def spawn_detached(args: Sequence[str], log: Path) -> int:
    """Start a process meant to outlive us: its own session, stdin from /dev/null, output appended to ``log``.

    Returns its pid (the caller records it in a pid file). On POSIX this is ``posix_spawn`` rather than a
    ``Popen`` whose handle we would drop: a dropped handle of a running child warns (``ResourceWarning``) when it
    is garbage-collected. ``args[0]`` must be an absolute path (``sys.executable``).
    """
    with open(log, "ab") as out:
        if hasattr(os, "posix_spawn"):
            actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                       (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
                       (os.POSIX_SPAWN_DUP2, out.fileno(), 2)]
            return os.posix_spawn(args[0], list(args), os.environ, file_actions=actions, setsid=True)
        flags = getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0) | getattr(subprocess, "DETACHED_PROCESS", 0)
        return subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                creationflags=flags).pid


def reap_child(pid: int) -> bool:
    """Collect ``pid``'s exit status if it is our own exited child; ``True`` when it was collected.

    A no-op returning ``False`` for a running child, another process's pid, or where ``waitpid`` is unavailable.
    """
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except (OSError, AttributeError):  # ChildProcessError: not our child; AttributeError: no WNOHANG (Windows)
        return False


def pid_alive(pid: int, *, reap: bool = False) -> bool:
    """Whether process ``pid`` exists; with ``reap=True`` our own exited child is collected first and is dead."""
    if reap and reap_child(pid):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def unwind_on_sigterm() -> None:
    """From now on SIGTERM (``timeout``, CI cancelling a job) raises :class:`KeyboardInterrupt` in the main thread
    like Ctrl-C, so ``finally`` blocks and context managers stop what this process started (Python's default
    SIGTERM exits without unwinding)."""
    signal.signal(signal.SIGTERM, _interrupt)
