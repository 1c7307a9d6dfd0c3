"""Engines for the one emufleet database: SQLite by default, PostgreSQL by URL (digest §6, defect §11.2 item 9).

The seed opened SQLite with one connection, no WAL and no busy timeout, and had two database files. Here there is
one URL (:func:`emufleet.settings.database_url`); SQLite connections get WAL (readers never block the writer),
a busy timeout (writers queue instead of failing with "database is locked"), ``synchronous=NORMAL`` (safe in WAL;
a commit no longer waits for an fsync) and foreign keys, set on every new connection.

Only ``emufleet db upgrade`` (and ``emufleet up``/``demo``, through :func:`emufleet.db.upgrade`) creates a database:
an engine opens an existing SQLite file read-write and never creates one, so a mistyped ``EMUFLEET_DATABASE_URL``
or a deleted file is an error naming the URL, not a new empty database. A process also notices when its SQLite
file is removed or replaced while it runs (checked each time a connection is taken from the pool: one ``stat``):
writing on into an unlinked file would lose everything it writes. A connection that found its database read-only
(a SQLite file made read-only, a PostgreSQL server turned read-only) is discarded with the pool's others, so the
next write opens a new connection and succeeds once the database is writable again (a read-only connection would
refuse every write for good).
"""

from __future__ import annotations

import os
import urllib.parse
from contextlib import ContextDecorator
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.engine import Dialect, ExceptionContext, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from emufleet import settings
from emufleet.errors import DatabaseError

__all__ = ["BUSY_TIMEOUT_MS", "engine", "safe_url", "sqlite_file", "translate_db_errors", "utcnow"]

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


_READ_ONLY = ("readonly database", "read-only transaction")  # SQLite's SQLITE_READONLY, PostgreSQL's 25006


def _discard_read_only(ctx: ExceptionContext) -> None:
    # SQLAlchemy then invalidates the pool: connections opened while the database was read-only are not reused.
    if any(text in str(ctx.original_exception) for text in _READ_ONLY):
        ctx.is_disconnect = True


def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL (``~`` expanded, not resolved); ``None`` for another backend or in-memory SQLite."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:" \
            or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser()


class _FileWatch:
    """The identity (device, inode) of a SQLite file when first opened; checked each time a connection is taken."""

    def __init__(self, path: Path, url: str, create: bool) -> None:
        self.path, self.url, self.create = path, url, create
        self.identity: tuple[int, int] | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino

    def do_connect(self, _dialect: Dialect, _record: ConnectionPoolEntry, cargs: list[object],
                   cparams: dict[str, object]) -> None:
        if self.create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self._stat() is None:
            raise DatabaseError(f"database {self.url} does not exist (create it with `emufleet db upgrade`)",
                                action="connect")
        else:  # read-write, never create: the file may vanish between the check and the open
            cargs[:] = [f"file:{urllib.parse.quote(str(self.path.absolute()))}?mode=rw"]
            cparams["uri"] = True

    def checkout(self, _conn: DBAPIConnection, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
        now = self._stat()
        if self.identity is None:
            self.identity = now
        elif now != self.identity:
            what = "removed" if now is None else "replaced by another file"
            raise DatabaseError(f"database file {self.path} was {what} while this process used it; nothing more is "
                                "written (restore it, or run `emufleet db upgrade` for a new one, and start again)",
                                action="connect")


def engine(url: str | None = None, *, echo: bool = False, create: bool = False) -> Engine:
    """A new SQLAlchemy engine for ``url`` (default :func:`emufleet.settings.database_url`).

    SQLite: WAL, busy timeout, ``synchronous=NORMAL`` and foreign keys are set on connect; the file must exist
    unless ``create`` (then its folder is created too; only :func:`emufleet.db.upgrade` asks for that). Any other
    URL (``postgresql+psycopg://…``) is passed through unchanged. The caller owns the engine (``engine.dispose()``
    when done); nothing is cached globally.

    Raises:
        DatabaseError: the URL is not one SQLAlchemy can use (an unknown scheme, a missing driver). Connecting
            later raises it too when the SQLite file does not exist (and not ``create``), or was removed or
            replaced since this engine first used it.
    """
    url = url or settings.database_url()
    try:
        parsed = make_url(url)
        sqlite = parsed.get_backend_name() == "sqlite"
        eng = (create_engine(url, echo=echo, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}) if sqlite
               else create_engine(url, echo=echo, pool_pre_ping=True))
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError) as exc:
        raise DatabaseError(f"cannot use the database URL {_shown(url)}: {str(exc).splitlines()[0][:200]}",
                            action="connect") from exc
    event.listen(eng, "handle_error", _discard_read_only)
    if not sqlite:
        return eng
    event.listen(eng, "connect", _sqlite_on_connect)
    path = sqlite_file(parsed)
    if path is not None:
        watch = _FileWatch(path, safe_url(url), create)
        event.listen(eng, "do_connect", watch.do_connect)
        event.listen(eng, "checkout", watch.checkout)
    return eng


def _shown(url: str) -> str:
    """``url`` for a message: its password hidden when it parses, else its first 200 characters."""
    try:
        return safe_url(url)
    except (ArgumentError, ValueError):
        return repr(url[:200])

