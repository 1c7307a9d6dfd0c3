"""What a launch returns and shows: the :class:`LaunchResult`, with each bot's record (its last
:class:`~emufleet.groups.BotStatus`) made from the bots' final Prefect states."""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect.client.schemas.objects import State
from pydantic import BaseModel, Field

from adapters.registry import final_state
from emufleet.groups import BotState, BotStatus
from emufleet.hosts import InstanceId

__all__ = ["LaunchResult", "bot_record", "table_rows"]

_log = logging.getLogger(__name__)

#: The columns of the launch's table artifact (and of ``emufleet groups launch``'s summary), in order.
TABLE_COLUMNS = ("bot", "instance", "account", "state", "restarts", "accounts_completed", "accounts_failed",
                 "steps_done", "steps_per_s", "wall_s", "step_s", "engine_s", "recoveries", "captures", "gave_up",
                 "error")


class LaunchResult(BaseModel):
    """What a launch did (digest §9.3 ``LaunchResult``): counts, bots, conflicts, skipped instances, errors."""

    group: str
    flow_run_id: UUID
    requested: int
    launched: int
    bots: list[BotStatus] = Field(default_factory=list)
    conflicts: list[InstanceId] = Field(default_factory=list)
    skipped: list[InstanceId] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list)
    reset_locks: list[InstanceId] = Field(default_factory=list)
    healed: dict[int, int] = Field(default_factory=dict)  # a failed bot → the bot started on its instance after it

    @property
    def final_bots(self) -> list[BotStatus]:
        """The bots whose ends stand: every bot but the failed ones another bot replaced (``healed``)."""
        return [b for b in self.bots if b.bot not in self.healed]

    @property
    def success(self) -> bool:
        """Every bot completed (none failed, none stopped)."""
        return self.launched > 0 and all(b.state is BotState.COMPLETED for b in self.final_bots)


def table_rows(bots: list[BotStatus]) -> list[dict[str, Any]]:
    """The bots as the launch's table artifact shows them: :data:`TABLE_COLUMNS`, JSON values."""
    return [{column: (round(bot.steps_per_s, 3) if column == "steps_per_s" else data[column])
             for column in TABLE_COLUMNS}
            for bot, data in ((bot, bot.model_dump(mode="json")) for bot in bots)]


async def bot_record(group: str, instance: InstanceId, bot: int, state: State | None,
                     status: BotStatus | None = None) -> BotStatus:
    """A bot's record at its launch's end: its final state's data (an in-process bot's last status), else
    ``status`` (a remote bot's last status labels, which its process wrote: its final state's data stays there),
    else what its final ``state`` says (``None``: it never started)."""
    if state is not None:
        try:
            data = await state.aresult(raise_on_failure=False)
            if isinstance(data, BotStatus):
                return data
        except Exception as exc:  # noqa: BLE001 - its data is gone (a crash, no result stored): the record says less
            _log.info("bot %s: no result in its final state (%s): %s", bot, state.type.value, exc)
    failed = state.message if state is not None and not state.is_completed() else None
    if status is not None:
        return status if status.error or failed is None else status.model_copy(update={"error": failed})
    return BotStatus(group=group, bot=bot, instance=instance, state=final_state(state),
                     error=state.message if state else "not started")
