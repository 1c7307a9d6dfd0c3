"""How a bot session reports: the :class:`BotObserver` interface, and the observers the engine ships.

The session calls its observer from its event loop, never from a device thread, and never waits on it: an
observer that needs I/O (the Prefect adapter writes labels, events and artifacts) queues the work itself.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from emufleet.bot.events import BotEvent
from emufleet.groups.status import BotStatus
from emufleet.routines.context import MatchScore

__all__ = ["BotObserver", "LogObserver", "TeeObserver"]


class BotObserver(Protocol):
    """Receives a bot's status changes, events and failure evidence."""

    def status(self, status: BotStatus) -> None:
        """The bot's status changed (state, step, account, counters, health)."""
        ...

    def event(self, event: BotEvent) -> None:
        """Something happened: a health change, a fault, a rung taken, a recovery, a give-up, an account lease…"""
        ...

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        """Failure evidence was written: the last frames with overlays as PNG files, the step that ran and the
        template checks it made."""
        ...

    def progress(self, done: int, total: int) -> None:
        """``done`` of the ``total`` top-level steps of the running attempt are complete."""
        ...


class LogObserver:
    """Logs events and evidence (``emufleet routines run``, tests); status changes at DEBUG."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.log = logger or logging.getLogger("emufleet.bot")

    def status(self, status: BotStatus) -> None:
        self.log.debug("bot %s/%d: %s %s", status.group, status.bot, status.state, status.step or "")

    def event(self, event: BotEvent) -> None:
        # the heartbeat's metrics (m.*) are for /metrics, not for a log line every 10 s
        details = " ".join(f"{k}={v}" for k, v in event.payload.items() if not k.startswith("m."))
        self.log.info("bot %s/%d %s %s", event.bot.group, event.bot.bot, event.kind, details)

    def progress(self, done: int, total: int) -> None:
        pass

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        self.log.info("failure evidence (%s): %s", reason, ", ".join(str(f) for f in frames))


class TeeObserver:
    """Reports to several observers in order (the Prefect adapter, the farm's ledger…)."""

    def __init__(self, *observers: BotObserver) -> None:
        self.observers = observers

    def status(self, status: BotStatus) -> None:
        for observer in self.observers:
            observer.status(status)

    def event(self, event: BotEvent) -> None:
        for observer in self.observers:
            observer.event(event)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        for observer in self.observers:
            observer.evidence(reason, frames, step, scores)

    def progress(self, done: int, total: int) -> None:
        for observer in self.observers:
            observer.progress(done, total)
