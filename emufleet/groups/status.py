"""Bot status: the seed's states plus ``paused`` (seed ``000_…`` ``BotStatus``; digest §9.1), as a typed record.

:class:`BotStatus` is the one record of a bot: what it is doing while it runs, and how it ended (the session
returns its last status, with its attempts, clocks, errors and captures). The record is engine-level (no Prefect):
the Prefect layer stores it on the bot's flow run and reads it back, and a launch's result lists one per bot, so
``emufleet groups show``, the console, the launch table and the Prefect UI see the same thing
(docs/orchestration.md "Bot status").
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from emufleet.hosts.identity import InstanceId

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
    """One bot: what it is doing — instance (host + serial), account, state, current step, restarts, recoveries by
    rung, counters, health, the newest failure frame — and, once it ended, how: attempts, failed attempts' errors,
    faults, the give-up reason, captures, and its clocks in seconds (``wall_s`` in the session, ``step_s`` around
    the step calls, ``engine_s`` inside the engine during them). The end-of-run fields keep their defaults while
    the bot runs, and for a bot whose process died before it said how it ended."""

    model_config = ConfigDict(extra="ignore")

    group: str
    bot: int
    instance: InstanceId
    state: BotState = BotState.STARTING
    step: str | None = None
    account: str | None = None
    restarts: int = 0
    accounts_completed: int = 0
    accounts_failed: int = 0
    steps_done: int = 0
    error: str | None = None
    health: str | None = None  # "ok", or the problems of the last health check ("app_not_foreground, …")
    last_failure: str | None = None  # the newest failure-evidence frame (PNG path), if any
    recoveries: dict[str, int] = Field(default_factory=dict)  # by rung of the recovery ladder
    # how it ended
    attempts: int = 0
    errors: list[str] = Field(default_factory=list)  # of the failed attempts, the newest 50
    faults: int = 0
    gave_up: str | None = None  # why, when the bot gave up (failure budget spent, no rung left)
    captures: int = 0  # frames captured (recognition rounds)
    wall_s: float = 0.0
    step_s: float = 0.0
    engine_s: float = 0.0

    @property
    def host(self) -> str:
        """The host the bot's instance is on."""
        return self.instance.host

    @property
    def recoveries_total(self) -> int:
        """Recoveries on every rung."""
        return sum(self.recoveries.values())

    @property
    def steps_per_s(self) -> float:
        """Steps per second of the session's wall time (0 before it ended)."""
        return self.steps_done / self.wall_s if self.wall_s > 0 else 0.0
