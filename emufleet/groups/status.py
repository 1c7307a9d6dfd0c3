"""Bot status: the seed's states plus ``paused`` (seed ``000_…`` ``BotStatus``; digest §9.1), as a typed record.

The record is engine-level (no Prefect): the Prefect layer stores it on the bot's flow run and reads it back,
so ``emufleet groups show`` and the Prefect UI see the same thing (docs/orchestration.md "Bot status").
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

__all__ = ["BotState", "BotStatus", "TERMINAL_STATES"]


class BotState(StrEnum):
    """Life cycle of one bot: starting → running ⇄ paused | recovering | restarting → stopping → stopped | failed |
    completed."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"  # waiting the restart policy's back-off before the next attempt
    RECOVERING = "recovering"  # on a rung of the recovery ladder (docs/supervision.md)
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"
    COMPLETED = "completed"


TERMINAL_STATES = frozenset({BotState.STOPPED, BotState.FAILED, BotState.COMPLETED})


class BotStatus(BaseModel):
    """What one bot is doing: instance (and its host), account, state, current step, restarts, recoveries, counters,
    health, and the newest failure frame."""

    model_config = ConfigDict(extra="ignore")

    group: str
    bot: int
    instance: str
    state: BotState = BotState.STARTING
    step: str | None = None
    account: str | None = None
    restarts: int = 0
    accounts_completed: int = 0
    accounts_failed: int = 0
    steps_done: int = 0
    error: str | None = None
    host: str = "local"
    health: str | None = None  # "ok", or the problems of the last health check ("app_not_foreground, …")
    last_failure: str | None = None  # the newest failure-evidence frame (PNG path), if any
    recoveries: int = 0
