"""What a launch returns and shows: a line per bot (:class:`BotRow`) and the :class:`LaunchResult`, made from the bots'
final Prefect states."""

from __future__ import annotations

import logging
from uuid import UUID

from prefect.client.schemas.objects import State
from pydantic import BaseModel, Field

from adapters.registry import final_state
from emufleet.bot import BotResult
from emufleet.groups import TERMINAL_STATES, BotState, BotStatus
from emufleet.hosts import InstanceId

__all__ = ["BotRow", "LaunchResult", "bot_row"]

_log = logging.getLogger(__name__)


class BotRow(BaseModel):
    """One line of the launch's table: a bot and how it ended."""

    bot: int
    instance: str
    account: str | None = None
    state: str
    restarts: int = 0
    accounts_completed: int = 0
    accounts_failed: int = 0
    steps: int = 0
    steps_per_s: float = 0.0
    wall_s: float = 0.0
    step_s: float = 0.0
    engine_s: float = 0.0
    recoveries: dict[str, int] = Field(default_factory=dict)  # by rung of the recovery ladder
    captures: int = 0  # frames captured (recognition rounds)
    gave_up: str | None = None  # why, when the bot gave up (failure budget spent, no rung left)
    error: str | None = None


class LaunchResult(BaseModel):
    """What a launch did (digest §9.3 ``LaunchResult``): counts, bots, conflicts, skipped instances, errors."""

    group: str
    flow_run_id: UUID
    requested: int
    launched: int
    bots: list[BotRow] = Field(default_factory=list)
    conflicts: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    reset_locks: list[str] = Field(default_factory=list)
    healed: dict[int, int] = Field(default_factory=dict)  # a failed bot → the bot started on its instance after it

    @property
    def final_bots(self) -> list[BotRow]:
        """The bots whose ends stand: every row but those of failed bots another bot replaced (``healed``)."""
        return [b for b in self.bots if b.bot not in self.healed]

    @property
    def success(self) -> bool:
        """Every bot completed (none failed, none stopped)."""
        return self.launched > 0 and all(b.state == BotState.COMPLETED.value for b in self.final_bots)


async def bot_row(instance: InstanceId, bot: int, state: State | None, status: BotStatus | None = None) -> BotRow:
    """A bot's line from its final state's ``BotResult`` (in-process bots), else from ``status`` (a remote bot's
    last status labels: its result stays in its own process)."""
    serial = instance.key
    result = None
    if state is not None:
        try:
            data = await state.aresult(raise_on_failure=False)
            result = data if isinstance(data, BotResult) else None
        except Exception as exc:  # noqa: BLE001 - its data is gone (a crash, no result stored): the row says less
            _log.info("bot %s: no result in its final state (%s): %s", bot, state.type.value, exc)
    if result is None and status is not None:
        kind = status.state
        if kind not in TERMINAL_STATES:  # its process died (Crashed by the zombie clean-up) before it said so
            kind = final_state(state)
        return BotRow(bot=bot, instance=serial, account=status.account, state=kind.value,
                      restarts=status.restarts, accounts_completed=status.accounts_completed,
                      accounts_failed=status.accounts_failed, steps=status.steps_done,
                      error=status.error or (state.message if state is not None and not state.is_completed() else None))
    if result is None:
        return BotRow(bot=bot, instance=serial, state=final_state(state).value,
                      error=state.message if state else "not started")
    s = result.status
    return BotRow(bot=bot, instance=serial, account=s.account, state=s.state.value, restarts=s.restarts,
                  accounts_completed=s.accounts_completed, accounts_failed=s.accounts_failed, steps=s.steps_done,
                  steps_per_s=round(result.steps_per_s, 3), wall_s=result.wall_s, step_s=result.step_s,
                  engine_s=result.engine_s, recoveries=result.recoveries, captures=result.captures,
                  gave_up=result.gave_up, error=result.gave_up or s.error)
