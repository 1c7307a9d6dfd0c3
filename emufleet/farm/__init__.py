"""The farm's memory: launch history, the fleet ledger, throughput series and quarantine (docs/farm.md).

Engine code (no Prefect): the Prefect layer feeds the ledger through a bot observer, records launches as they
start and end, skips quarantined instances at acquisition, and turns new quarantines into events; the console's
dashboard and history pages and ``GET /api/stats`` read it.
"""

from __future__ import annotations

from emufleet.farm.history import LaunchSummary, list_launches, record_end, record_start
from emufleet.farm.ledger import LEDGER_KINDS, STEPS, Ledger, LedgerObserver, LedgerRow
from emufleet.farm.quarantine import (
    FarmRules,
    QuarantineEntry,
    account_verdict,
    active,
    admit,
    instance_verdict,
    is_quarantined,
    quarantine,
    release,
)
from emufleet.farm.stats import METRICS, WINDOWS, PoolForecast, Series, StatsFilter, forecast, series
from emufleet.groups.quarantine import QuarantineSettings

__all__ = [
    "LEDGER_KINDS",
    "METRICS",
    "STEPS",
    "WINDOWS",
    "FarmRules",
    "LaunchSummary",
    "Ledger",
    "LedgerObserver",
    "LedgerRow",
    "PoolForecast",
    "QuarantineEntry",
    "QuarantineSettings",
    "Series",
    "StatsFilter",
    "account_verdict",
    "active",
    "admit",
    "forecast",
    "instance_verdict",
    "is_quarantined",
    "list_launches",
    "quarantine",
    "record_end",
    "record_start",
    "release",
    "series",
]
