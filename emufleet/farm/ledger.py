"""The farm's ledger: what bots did, appended to ``fleet_events`` for the dashboard and the quarantine rule.

A :class:`Ledger` is shared by the bots of one process; each bot reports through its own :class:`LedgerObserver`
(a :class:`~emufleet.bot.observer.BotObserver`). Observers never wait: rows are queued in memory and written in
one transaction every ``flush_s`` seconds (and on :meth:`Ledger.flush`), off the event loop by the caller's thread
runner. Steps are not one row per step: a bot's heartbeat carries its cumulative ``steps_done`` and the observer
writes the difference at most once per ``steps_every_s`` (and the remainder when the bot finishes).

A write that fails (database locked, read-only, gone) is logged and its rows kept for the next flush, up to
``max_pending`` rows; beyond that the oldest are dropped with a warning naming how many: the ledger is for
charts, and it must never stop a bot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert
from sqlalchemy.exc import SQLAlchemyError

from emufleet.bot.events import BotEvent, EventKind
from emufleet.db.engine import utcnow
from emufleet.db.models import FleetEvent
from emufleet.errors import DatabaseError
from emufleet.groups.status import BotStatus
from emufleet.hosts import InstanceId
from emufleet.routines.context import MatchScore

__all__ = ["LEDGER_KINDS", "STEPS", "Ledger", "LedgerObserver", "LedgerRow"]

_log = logging.getLogger(__name__)

STEPS = "steps"
"""The ledger kind of a steps sample (``count`` steps since the bot's previous sample)."""

#: Bot event kinds the ledger keeps (the dashboard's counts); heartbeats become ``steps`` samples.
LEDGER_KINDS: frozenset[EventKind] = frozenset({
    EventKind.STARTED, EventKind.FINISHED, EventKind.STUCK, EventKind.RECOVERING, EventKind.RECOVERED,
    EventKind.GAVE_UP, EventKind.ATTEMPT_FAILED, EventKind.ACCOUNT_COMPLETED, EventKind.ACCOUNT_FAILED,
    EventKind.ACCOUNT_RETURNED,
})


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ``fleet_events`` row before it is written (``instance`` is ``host/serial``)."""

    kind: str
    group: str
    bot: int
    host: str
    instance: str
    launch_id: str | None
    at: datetime = field(default_factory=utcnow)
    account: str | None = None
    rung: str | None = None
    reason: str | None = None
    count: int = 1


class Ledger:
    """Queues :class:`LedgerRow`s and writes them in batches to ``fleet_events`` of ``engine``.

    ``on_written`` is called (in the writing thread) with the rows of each successful batch: the quarantine rule
    looks at recoveries and give-ups there.
    """

    def __init__(self, engine: Engine, *, flush_s: float = 5.0, max_pending: int = 10_000,
                 on_written: Callable[[Sequence[LedgerRow]], None] | None = None) -> None:
        self.engine = engine
        self.flush_s = flush_s
        self.max_pending = max_pending
        self.on_written = on_written
        self._pending: list[LedgerRow] = []
        self._lock = threading.Lock()
        self._flushed_at = time.monotonic()
        self.dropped = 0

    def add(self, row: LedgerRow) -> None:
        """Queue ``row`` (never blocks on the database)."""
        with self._lock:
            self._pending.append(row)
            over = len(self._pending) - self.max_pending
            if over > 0:
                del self._pending[:over]
                self.dropped += over
                _log.warning("fleet ledger: %d row(s) dropped (the database has not accepted writes)", over)

    def due(self) -> bool:
        """Whether rows wait and ``flush_s`` has passed since the last flush."""
        return bool(self._pending) and time.monotonic() - self._flushed_at >= self.flush_s

    def flush(self) -> int:
        """Write every queued row in one transaction (blocking: call it off the event loop); returns how many were
        written. On a database error the rows stay queued and the error is logged."""
        with self._lock:
            rows, self._pending = self._pending, []
            self._flushed_at = time.monotonic()
        if not rows:
            return 0
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(FleetEvent), [_values(r) for r in rows])
        except (SQLAlchemyError, DatabaseError) as exc:  # locked, read-only, removed: keep the rows
            _log.warning("fleet ledger: %d row(s) not written yet (%s); kept for the next flush", len(rows),
                         exc.__class__.__name__)
            with self._lock:
                self._pending[:0] = rows
            return 0
        if self.on_written is not None:
            try:
                self.on_written(rows)
            except Exception:  # a rule's failure must not lose the ledger or stop a bot; it is logged in full
                _log.exception("fleet ledger: the on_written hook failed")
        return len(rows)

    def observer(self, group: str, bot: int, instance: InstanceId, launch_id: str | None, *,
                 steps_every_s: float = 60.0) -> LedgerObserver:
        """A bot's observer writing into this ledger."""
        return LedgerObserver(self, group, bot, instance, launch_id, steps_every_s=steps_every_s)


def _naive_utc(epoch_s: float) -> datetime:
    """Naive UTC (the database's times) of an epoch time."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).replace(tzinfo=None)


def _values(row: LedgerRow) -> dict[str, object]:
    return {"at": row.at, "kind": row.kind, "group_name": row.group, "bot": row.bot, "host": row.host,
            "instance": row.instance, "launch_id": row.launch_id, "account": row.account, "rung": row.rung,
            "reason": (row.reason or None) and row.reason[:255], "count": row.count}


class LedgerObserver:
    """One bot's reports → ledger rows (a :class:`~emufleet.bot.observer.BotObserver`)."""

    def __init__(self, ledger: Ledger, group: str, bot: int, instance: InstanceId, launch_id: str | None, *,
                 steps_every_s: float = 60.0) -> None:
        self.ledger = ledger
        self.group, self.bot, self.host, self.launch_id = group, bot, instance.host, launch_id
        self.instance = instance.key  # the rows' "host/serial"
        self.steps_every_s = steps_every_s
        self._steps_written = 0  # the session's cumulative steps_done already in the ledger
        self._steps_seen = 0
        self._sampled_at = time.monotonic()

    def _row(self, kind: str, *, at: datetime | None = None, account: str | None = None, rung: str | None = None,
             reason: str | None = None, count: int = 1) -> LedgerRow:
        return LedgerRow(kind, self.group, self.bot, self.host, self.instance, self.launch_id, at=at or utcnow(),
                         account=account, rung=rung, reason=reason, count=count)

    def _steps(self, steps_done: int, *, force: bool) -> None:
        # One observer per bot run, whose count only grows: a lower one is a report that arrived late (heartbeats
        # and step reports come from different threads), not a new count: counting from 0 again counted twice.
        self._steps_seen = max(self._steps_seen, steps_done)
        steps_done = self._steps_seen
        delta = steps_done - self._steps_written
        if delta > 0 and (force or time.monotonic() - self._sampled_at >= self.steps_every_s):
            self.ledger.add(self._row(STEPS, count=delta))
            self._steps_written = steps_done
            self._sampled_at = time.monotonic()

    # -- BotObserver -----------------------------------------------------------------------------------------------
    def status(self, status: BotStatus) -> None:
        self._steps(status.steps_done, force=False)

    def event(self, event: BotEvent) -> None:
        payload = event.payload
        steps = payload.get("steps_done")
        if isinstance(steps, int):
            self._steps(steps, force=event.kind is EventKind.FINISHED)
        if event.kind not in LEDGER_KINDS:
            return
        rung = payload.get("rung")
        reason = payload.get("reason") if event.kind is not EventKind.FINISHED else payload.get("state")
        self.ledger.add(self._row(event.kind.value, at=_naive_utc(event.time), account=event.bot.account,
                                  rung=str(rung) if rung is not None else None,
                                  reason=str(reason) if reason is not None else None))

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass
