"""Operator commands of running launches: sent by anyone, numbered per launch, taken once per bot, in order.

Sending is one transaction of two statements; the first takes the launch row's lock, so concurrent senders are
numbered in commit order and a reader never sees command *n + 1* without *n*::

    UPDATE control_launches SET last_seq = last_seq + 1 WHERE launch_id = :id RETURNING last_seq   -- no row: refused
    INSERT INTO control_commands (launch_id, seq, kind, bot, source) VALUES (:id, :seq, …)

Taking is a compare-and-set of the bot's cursor, after reading what lies beyond it::

    UPDATE control_cursors SET taken_seq = :newest WHERE launch_id = :id AND bot = :bot AND taken_seq = :seen
    -- rowcount 1: the commands (seen, newest] meant for this bot are ours; 0: another taker moved the cursor first

SQLite serialises both under its one write lock; PostgreSQL (READ COMMITTED) makes the second sender wait on the
row and re-read it, and re-evaluates the cursor's ``WHERE`` on the newest row version. No command is lost, none
numbered twice, none taken twice, on any number of processes or hosts sharing the database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from emufleet.control._sql import insert_if_absent
from emufleet.db import ControlCommand, ControlCursor, ControlLaunch, translate_db_errors, utcnow
from emufleet.errors import OrchestrationError

__all__ = ["Command", "CommandKind", "CommandStore"]

_L = cast(Table, ControlLaunch.__table__)
_C = cast(Table, ControlCommand.__table__)
_K = cast(Table, ControlCursor.__table__)
_MAX_TRIES = 50  # compare-and-set rounds lost to other takers of the same bot before giving up (never seen > 2)


class CommandKind(StrEnum):
    """What an operator asks of a launch's bots (``restart_*`` are rungs of the bot's recovery ladder; ``record``
    goes to the bot's studio hook)."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    RESTART_APP = "restart_app"
    RESTART_INSTANCE = "restart_instance"
    RECORD = "record"  # write the bot's flight recorder as a session now (adapters.studio)


@dataclass(frozen=True, slots=True)
class Command:
    """One command as stored: ``seq`` 1, 2, … per launch; ``bot`` ``None`` means every bot of the launch;
    ``created_at`` naive UTC."""

    launch_id: str
    seq: int
    kind: CommandKind
    bot: int | None
    source: str | None
    created_at: datetime

    def is_for(self, bot: int) -> bool:
        """Whether bot ``bot`` takes this command (its own, or a launch-wide one)."""
        return self.bot is None or self.bot == bot


_READ = select(_C.c.launch_id, _C.c.seq, _C.c.kind, _C.c.bot, _C.c.source, _C.c.created_at)


def _command(row: Sequence[Any]) -> Command:
    return Command(row[0], row[1], CommandKind(row[2]), row[3], row[4], row[5])


class CommandStore:
    """The commands of every running launch in the database at ``engine`` (migrated: ``db.upgrade``).

    Thread-safe and process-safe: every method is its own transaction.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @translate_db_errors("open the launch's command channel")
    def open(self, launch_id: str) -> None:
        """Make ``launch_id`` accept commands (idempotent: a launch's commands so far are kept)."""
        with self.engine.begin() as conn:
            insert_if_absent(conn, _L, [{"launch_id": launch_id, "last_seq": 0, "created_at": utcnow()}])

    @translate_db_errors("close the launches' command channels")
    def close(self, launch_ids: Collection[str]) -> int:
        """Delete the launches ``launch_ids`` with their commands and cursors (they ended); returns how many."""
        if not launch_ids:
            return 0
        with self.engine.begin() as conn:
            ids = list(launch_ids)
            conn.execute(delete(_C).where(_C.c.launch_id.in_(ids)))
            conn.execute(delete(_K).where(_K.c.launch_id.in_(ids)))
            return int(conn.execute(delete(_L).where(_L.c.launch_id.in_(ids))).rowcount)

    @translate_db_errors("list the launches' command channels")
    def launches(self) -> list[tuple[str, datetime]]:
        """Every open launch and when it was opened (naive UTC), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(_L.c.launch_id, _L.c.created_at).order_by(_L.c.created_at, _L.c.launch_id))
            return [(row[0], row[1]) for row in rows]

    @translate_db_errors("send an operator command")
    def send(self, launch_id: str, kind: CommandKind | str, *, bot: int | None = None,
             source: str | None = None) -> Command:
        """Append a command for bot ``bot`` (``None``: every bot) of ``launch_id``; returns it with its number.

        Raises:
            OrchestrationError: the launch is not open (it ended, or never started on this database).
            ValueError: ``kind`` is not a :class:`CommandKind`.
            DatabaseError: the database cannot be reached.
        """
        kind = CommandKind(kind)
        with self.engine.begin() as conn:
            seq = conn.execute(update(_L).where(_L.c.launch_id == launch_id).values(last_seq=_L.c.last_seq + 1)
                               .returning(_L.c.last_seq)).scalar_one_or_none()
            if seq is None:
                raise OrchestrationError(f"launch {launch_id} takes no commands (it is not running)")
            now = utcnow()
            conn.execute(insert(_C).values(launch_id=launch_id, seq=seq, kind=kind.value, bot=bot, source=source,
                                           created_at=now))
        return Command(launch_id, seq, kind, bot, source, now)

    @translate_db_errors("read operator commands")
    def since(self, launch_id: str, seq: int = 0) -> list[Command]:
        """The launch's commands numbered above ``seq``, in order, for every bot (a watcher reads once for all)."""
        with self.engine.connect() as conn:
            rows = conn.execute(_READ.where(_C.c.launch_id == launch_id, _C.c.seq > seq).order_by(_C.c.seq))
            return [_command(tuple(row)) for row in rows]

    @translate_db_errors("read a bot's command cursor")
    def cursor(self, launch_id: str, bot: int) -> int:
        """The number of the newest command bot ``bot`` has taken (0: none); makes its cursor on first use.

        Raises:
            OrchestrationError: the launch is not open.
        """
        with self.engine.begin() as conn:
            try:
                insert_if_absent(conn, _K, [{"launch_id": launch_id, "bot": bot, "taken_seq": 0}])
            except IntegrityError as exc:  # the foreign key: no such launch
                raise OrchestrationError(f"launch {launch_id} takes no commands (it is not running)") from exc
            seq = conn.execute(select(_K.c.taken_seq).where(_K.c.launch_id == launch_id, _K.c.bot == bot)).scalar()
        return int(seq or 0)

    @translate_db_errors("take operator commands")
    def advance(self, launch_id: str, bot: int, seen: int, newest: int) -> bool:
        """Move bot ``bot``'s cursor from ``seen`` to ``newest`` if nobody moved it since (compare-and-set): true
        when this caller now owns the commands (seen, newest] meant for the bot."""
        with self.engine.begin() as conn:
            moved = conn.execute(update(_K).where(_K.c.launch_id == launch_id, _K.c.bot == bot,
                                                  _K.c.taken_seq == seen).values(taken_seq=newest))
            return moved.rowcount == 1

    def take(self, launch_id: str, bot: int) -> list[Command]:
        """Take every command meant for bot ``bot`` that it has not taken yet, in order (each exactly once across
        all takers: :meth:`advance`); ``[]`` when there is none.

        Raises:
            OrchestrationError: the launch is not open, or other takers kept winning (never seen in practice).
        """
        for _ in range(_MAX_TRIES):
            seen = self.cursor(launch_id, bot)
            fresh = self.since(launch_id, seen)
            if not fresh:
                return []
            if self.advance(launch_id, bot, seen, fresh[-1].seq):
                return [c for c in fresh if c.is_for(bot)]
        raise OrchestrationError(f"launch {launch_id} bot {bot}: commands not taken after {_MAX_TRIES} tries")

    @translate_db_errors("read operator commands")
    def pending_for(self, launch_id: str, bot: int) -> list[Command]:
        """Commands meant for bot ``bot`` beyond its cursor, without taking them (for display and tests)."""
        with self.engine.connect() as conn:
            seen = conn.execute(select(_K.c.taken_seq).where(_K.c.launch_id == launch_id, _K.c.bot == bot)).scalar()
            rows = conn.execute(_READ.where(_C.c.launch_id == launch_id, _C.c.seq > (seen or 0),
                                            or_(_C.c.bot.is_(None), _C.c.bot == bot)).order_by(_C.c.seq))
            return [_command(tuple(row)) for row in rows]
