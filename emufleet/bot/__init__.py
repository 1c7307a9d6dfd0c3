"""The bot: a Prefect-free session that readies its device, leases accounts through its pools, runs attempts of
its routine under the restart policy and supervises them (docs/supervision.md).

* :mod:`emufleet.bot.health`: :class:`HealthMonitor` (ADB, boot, foreground app, frozen screen, capture latency)
  and its typed :class:`HealthReport`;
* :mod:`emufleet.bot.stuck`: :class:`StuckDetector` (no step and no input for ``stuck_after_s``) and
  :class:`ClickLoopDetector` (the same targets tapped over and over), both giving a :class:`StuckVerdict`.
"""

from emufleet.bot.accounts import AccountBudget, BotAccounts
from emufleet.bot.assets import EngineAssets, load_assets
from emufleet.bot.health import (
    HealthChange,
    HealthMonitor,
    HealthProblem,
    HealthReport,
    HealthSettings,
    HealthSeverity,
)
from emufleet.bot.stuck import ClickLoopDetector, StuckDetector, StuckReason, StuckVerdict

__all__ = ["AccountBudget", "BotAccounts", "ClickLoopDetector", "EngineAssets", "HealthChange", "HealthMonitor",
           "HealthProblem", "HealthReport", "HealthSettings", "HealthSeverity", "StuckDetector", "StuckReason",
           "StuckVerdict", "load_assets"]
