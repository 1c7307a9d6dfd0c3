"""Engines for the one emufleet database: SQLite by default, PostgreSQL by URL (digest §6, defect §11.2 item 9).

The seed opened SQLite with one connection, no WAL and no busy timeout, and had two database files. Here there is
one URL (:func:`emufleet.settings.database_url`); SQLite connections get WAL (readers never block the writer),
a busy timeout (writers queue instead of failing with "database is locked"), ``synchronous=NORMAL`` (safe in WAL;
a commit no longer waits for an fsync) and foreign keys, set on every new connection.
"""

from __future__ import annotations

from contextlib import ContextDecorator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from emufleet import settings
from emufleet.errors import DatabaseError

__all__ = ["BUSY_TIMEOUT_MS", "engine", "safe_url", "translate_db_errors", "utcnow"]

BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for the write lock before failing (milliseconds)."""


def safe_url(url: str) -> str:
    """``url`` with any password hidden (``***``), for messages, logs and records."""
    return make_url(url).render_as_string(hide_password=True)


def utcnow() -> datetime:
    """Current UTC time as a *naive* datetime: the form stored in every timestamp column.

    Lease expiry is compared against a bound parameter computed here, not against the database's clock, so the
    same statement runs on SQLite and PostgreSQL; hosts sharing a PostgreSQL database must keep their clocks in
    sync (NTP), which a lease TTL of minutes tolerates easily.
    """
    return datetime.now(UTC).replace(tzinfo=None)


class translate_db_errors(ContextDecorator):  # noqa: N801 - used like contextlib's lower-case helpers
    """The database boundary: a SQLAlchemy error raised inside becomes a :class:`~emufleet.errors.DatabaseError`.

    A context manager and a decorator (``@translate_db_errors("lease")``); nesting is harmless (our error passes
    through). Retry loops that catch ``IntegrityError`` run inside it and still see SQLAlchemy's error.
    """

    def __init__(self, action: str) -> None:
        self.action = action

    def __enter__(self) -> translate_db_errors:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if isinstance(exc, SQLAlchemyError):
            orig = exc.orig if isinstance(exc, DBAPIError) else exc
            text = str(orig).splitlines()[0] if str(orig) else type(orig).__name__
            hint = " (run `emufleet db upgrade`)" if "no such table" in text or "does not exist" in text else ""
            raise DatabaseError(f"{type(orig).__name__}: {text}{hint}", action=self.action) from exc


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """A new SQLAlchemy engine for ``url`` (default :func:`emufleet.settings.database_url`).

    SQLite: the parent folder of the file is created; WAL, busy timeout, ``synchronous=NORMAL`` and foreign keys
    are set on connect. Any other URL (``postgresql+psycopg://…``) is passed through unchanged. The caller owns
    the engine (``engine.dispose()`` when done); nothing is cached globally.
    """
    url = url or settings.database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    eng = create_engine(url, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
    event.listen(eng, "connect", _sqlite_on_connect)
    return eng

