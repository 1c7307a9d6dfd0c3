"""The system health model (seed 003 "System Health Model"): one :class:`ComponentHealth` per component of the local
system, rolled up into a :class:`SystemHealth` whose status is ``Healthy``, ``Degraded`` or ``Critical``.

Rules, in order:

* **Critical**: a *required* component (the database, the Prefect server, the adb server, the emulator backend) is
  not running; ``reason`` names them.
* **Degraded**: everything required runs, but an optional component (the console, this host's worker) is not
  running, or a running component reports an issue (a saturated host, a database behind its schema head);
  ``reason`` names them.
* **Healthy**: every component runs without an issue.

``emufleet status`` prints :meth:`SystemHealth.lines`; the console serves :meth:`SystemHealth.to_json` at
``GET /api/system`` and inside ``/ready``.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field

from emufleet.boundary import JsonObject

__all__ = ["ComponentHealth", "ComponentState", "SystemHealth", "SystemStatus", "format_uptime", "roll_up"]


class ComponentState(enum.StrEnum):
    """Where one component is: ``running`` (answers its readiness check), ``stopped`` (not there), ``failed``
    (there but not answering, or its check failed)."""

    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class SystemStatus(enum.StrEnum):
    HEALTHY = "Healthy"
    DEGRADED = "Degraded"
    CRITICAL = "Critical"


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    """One component's health: ``state``, ``uptime_s`` (seconds since its process started; ``None`` when it has no
    process of ours, e.g. a SQLite database), ``issue`` (one line, ``""`` when none), ``detail`` (where it is:
    a URL, a pid, serials)."""

    name: str
    state: ComponentState
    required: bool = True
    uptime_s: float | None = None
    issue: str = ""
    detail: str = ""

    def to_json(self) -> JsonObject:
        return {"name": self.name, "state": self.state.value, "required": self.required,
                "uptime_s": None if self.uptime_s is None else round(self.uptime_s, 1), "issue": self.issue or None,
                "detail": self.detail}


@dataclass(frozen=True, slots=True)
class SystemHealth:
    """The rolled-up health (see the module docstring); ``checked_at`` is epoch seconds."""

    status: SystemStatus
    reason: str
    components: tuple[ComponentHealth, ...]
    checked_at: float = field(default_factory=time.time)

    @property
    def healthy(self) -> bool:
        return self.status is SystemStatus.HEALTHY

    def lines(self) -> list[str]:
        """``system: <status>[ (<reason>)]`` then one aligned line per component: name, state, uptime, issue."""
        width = max((len(c.name) for c in self.components), default=0)
        out = [f"system: {self.status.value}" + (f" ({self.reason})" if self.reason else "")]
        for c in self.components:
            out.append(f"  {c.name:<{width}}  {c.state.value:<7}  up {format_uptime(c.uptime_s):>8}  "
                       f"{c.issue or '-'}" + (f"  [{c.detail}]" if c.detail else ""))
        return out

    def to_json(self) -> JsonObject:
        return {"status": self.status.value, "reason": self.reason, "checked_at": self.checked_at,
                "components": [c.to_json() for c in self.components]}


def roll_up(components: list[ComponentHealth] | tuple[ComponentHealth, ...]) -> SystemHealth:
    """The system's status from its components' (the rules of the module docstring)."""
    down_required = [c.name for c in components if c.required and c.state is not ComponentState.RUNNING]
    if down_required:
        return SystemHealth(SystemStatus.CRITICAL, "not running: " + ", ".join(down_required), tuple(components))
    down = [c.name for c in components if c.state is not ComponentState.RUNNING]
    issues = [f"{c.name}: {c.issue}" for c in components if c.state is ComponentState.RUNNING and c.issue]
    if down or issues:
        reason = "; ".join(([f"not running: {', '.join(down)}"] if down else []) + issues)
        return SystemHealth(SystemStatus.DEGRADED, reason, tuple(components))
    return SystemHealth(SystemStatus.HEALTHY, "", tuple(components))


def format_uptime(seconds: float | None) -> str:
    """``-``, ``42s``, ``5m03s``, ``2h05m``, ``3d04h``."""
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"
