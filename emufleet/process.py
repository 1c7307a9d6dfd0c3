"""Liveness of the processes emufleet records in pid files (simulators, simulated instances, the Prefect server).

POSIX semantics; a process owned by another user counts as alive. An exited child of *this* process stays a
zombie, and so "alive" to ``kill(pid, 0)``, until it is waited for: pass ``reap=True`` when the pid may be our own
child (a process we started with ``subprocess.Popen`` and did not keep the handle of).
"""

from __future__ import annotations

import os

__all__ = ["pid_alive", "reap_child"]


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
