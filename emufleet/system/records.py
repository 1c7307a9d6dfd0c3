"""What ``emufleet up`` records about the processes it started: ``<state>/system/<component>.json`` (pid, its
creation time, and the component's own fields such as a URL), and ``<component>.log`` beside it."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emufleet.boundary import JsonObject
from emufleet.errors import OrchestrationError
from emufleet.files import write_atomic
from emufleet.process import pid_alive, spawn_detached, started_at, stop_tree
from emufleet.settings import state_dir

__all__ = ["ProcessRecord", "stop_recorded", "system_dir"]


def system_dir() -> Path:
    """``<state>/system`` (created)."""
    path = state_dir() / "system"
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """A background process of one component: ``pid``, ``started`` (its creation time, epoch s, so a reused pid
    is not mistaken for it) and ``extra`` (the component's fields)."""

    component: str
    pid: int
    started: float
    extra: JsonObject = field(default_factory=dict)

    @staticmethod
    def path(component: str) -> Path:
        return system_dir() / f"{component}.json"

    @staticmethod
    def log(component: str) -> Path:
        return system_dir() / f"{component}.log"

    @classmethod
    def spawn(cls, component: str, args: Sequence[str], *, env: Mapping[str, str] | None = None,
              extra: JsonObject | None = None) -> ProcessRecord:
        """Start ``args`` detached (output to :meth:`log`, this start's only) and record it.

        Raises:
            OSError: the program could not be started.
        """
        log = cls.log(component)
        log.unlink(missing_ok=True)
        pid = spawn_detached(args, log, env=env)
        record = cls(component, pid, started_at(pid) or time.time(), dict(extra or {}))
        write_atomic(cls.path(component), json.dumps({"pid": pid, "started": record.started, **record.extra}))
        return record

    @classmethod
    def read(cls, component: str) -> ProcessRecord | None:
        """The live process recorded for ``component``; a record of a dead process is removed."""
        path = cls.path(component)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            pid, started = int(data.pop("pid")), float(data.pop("started"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not pid_alive(pid, reap=True, started=started):
            path.unlink(missing_ok=True)
            return None
        return cls(component, pid, started, data)

    @property
    def alive(self) -> bool:
        return pid_alive(self.pid, reap=True, started=self.started)

    @property
    def uptime_s(self) -> float:
        return max(time.time() - self.started, 0.0)

    def log_tail(self, lines: int = 5) -> str:
        """The last lines of its log, `` / ``-joined (for an error message)."""
        try:
            text = self.log(self.component).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return " / ".join(text.strip().splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0) -> bool:
        """Stop its process tree (:func:`emufleet.process.stop_tree`) and remove the record; ``True`` when gone."""
        gone = stop_tree(self.pid, timeout_s=timeout_s)
        if gone:
            self.path(self.component).unlink(missing_ok=True)
        return gone


def stop_recorded(component: str, timeout_s: float = 10.0) -> str:
    """Stop ``component``'s recorded process, if any: what was done (a component's ``stop``).

    Raises:
        OrchestrationError: it did not stop.
    """
    record = ProcessRecord.read(component)
    if record is None:
        return "not running"
    if not record.stop(timeout_s=timeout_s):
        raise OrchestrationError(f"{component} pid {record.pid} did not stop")
    return f"stopped (pid {record.pid})"
