"""The bot: a Prefect-free session that readies its device, leases accounts through its pools, runs attempts of
its routine under the restart policy and supervises them (docs/supervision.md).

    session = BotSession(spec, load_assets(), call=..., observer=LogObserver(), accounts=...)
    result = await session.run()

Names are imported on first use (PEP 562), so that importing one part does not load the whole session. The
settings models (``recovery:``, ``health:``) live in :mod:`emufleet.groups.supervision`, below the bot.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets, load_assets
    from emufleet.bot.attempt import AttemptRunner
    from emufleet.bot.events import BotEvent, BotRef
    from emufleet.bot.fence import OPEN_FENCE, Fence
    from emufleet.bot.health import (
        HealthChange,
        HealthMonitor,
        HealthProblem,
        HealthReport,
        HealthSettings,
        HealthSeverity,
    )
    from emufleet.bot.interrupt import Handler, Interrupt, InterruptScope
    from emufleet.bot.ladder import RecoveryLadder
    from emufleet.bot.observer import BotObserver, LogObserver
    from emufleet.bot.recovery import Fault, FaultKind, RecoverySettings, Rung
    from emufleet.bot.reporter import Reporter
    from emufleet.bot.session import AttemptBoundary, BotSession, InstanceLease
    from emufleet.bot.spec import BotSpec
    from emufleet.bot.steps import InlineSteps, StepOutcome, StepRunner
    from emufleet.bot.stuck import ClickLoopDetector, StuckDetector, StuckReason, StuckVerdict
    from emufleet.bot.supervision import SupervisionLoop

_EXPORTS = {
    "BotAccounts": "accounts", "AttemptRunner": "attempt",
    "Handler": "interrupt", "Interrupt": "interrupt", "InterruptScope": "interrupt", "RecoveryLadder": "ladder",
    "Reporter": "reporter", "AttemptBoundary": "session", "SupervisionLoop": "supervision",
    "EngineAssets": "assets", "load_assets": "assets",
    "BotEvent": "events", "BotRef": "events",
    "Fence": "fence", "OPEN_FENCE": "fence",
    "HealthChange": "health", "HealthMonitor": "health", "HealthProblem": "health", "HealthReport": "health",
    "HealthSettings": "health", "HealthSeverity": "health",
    "BotObserver": "observer", "LogObserver": "observer",
    "Fault": "recovery", "FaultKind": "recovery", "RecoverySettings": "recovery", "Rung": "recovery",
    "BotSession": "session", "InstanceLease": "session",
    "BotSpec": "spec",
    "InlineSteps": "steps", "StepOutcome": "steps", "StepRunner": "steps",
    "ClickLoopDetector": "stuck", "StuckDetector": "stuck", "StuckReason": "stuck", "StuckVerdict": "stuck",
}
__all__ = ["AttemptBoundary", "AttemptRunner", "BotAccounts", "BotEvent", "BotObserver", "BotRef",
           "BotSession", "BotSpec", "ClickLoopDetector", "EngineAssets", "Fault", "FaultKind", "Fence", "Handler",
           "HealthChange", "HealthMonitor", "HealthProblem", "HealthReport", "HealthSettings", "HealthSeverity",
           "InlineSteps", "InstanceLease", "Interrupt", "InterruptScope", "load_assets", "LogObserver", "OPEN_FENCE",
           "RecoveryLadder", "RecoverySettings", "Reporter", "Rung", "StepOutcome", "StepRunner", "StuckDetector",
           "StuckReason", "StuckVerdict", "SupervisionLoop"]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'emufleet.bot' has no attribute {name!r}") from None
    return getattr(importlib.import_module(f"emufleet.bot.{module}"), name)
