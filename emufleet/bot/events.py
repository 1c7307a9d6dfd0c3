"""What a bot reports as it goes: :class:`BotRef` (which bot) and :class:`BotEvent` (what happened)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

__all__ = ["BotEvent", "BotRef"]


@dataclass(frozen=True, slots=True)
class BotRef:
    """One bot: its group, index, host, instance serial, flow run (if any) and current account (if any)."""

    group: str
    bot: int
    serial: str
    host: str = "local"
    flow_run_id: str | None = None
    account: str | None = None


@dataclass(frozen=True, slots=True)
class BotEvent:
    """``kind`` is the event name without the ``emufleet.`` prefix (``"bot.stuck"``); ``payload`` is flat data."""

    kind: str
    bot: BotRef
    payload: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    time: float = field(default_factory=time.time)
