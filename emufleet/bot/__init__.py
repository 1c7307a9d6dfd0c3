"""The bot as an engine object: health checks and stuck detection (the session joins them here).

* :mod:`emufleet.bot.health`: :class:`HealthMonitor` (ADB, boot, foreground app, frozen screen, capture latency)
  and its typed :class:`HealthReport`;
* :mod:`emufleet.bot.stuck`: :class:`StuckDetector` (no step and no input for ``stuck_after_s``) and
  :class:`ClickLoopDetector` (the same targets tapped over and over), both giving a :class:`StuckVerdict`.

Prefect-free like the rest of the engine; docs: ``docs/supervision.md``.
"""

from emufleet.bot.health import (
    HealthChange,
    HealthMonitor,
    HealthProblem,
    HealthReport,
    HealthSettings,
    HealthSeverity,
)
from emufleet.bot.stuck import ClickLoopDetector, StuckDetector, StuckReason, StuckVerdict

__all__ = ["ClickLoopDetector", "HealthChange", "HealthMonitor", "HealthProblem", "HealthReport", "HealthSettings",
           "HealthSeverity", "StuckDetector", "StuckReason", "StuckVerdict"]
