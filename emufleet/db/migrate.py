"""Schema migrations (Alembic), driven from Python: ``emufleet db upgrade`` calls :func:`upgrade`.

The seed ran Go migration functions recorded in ``schema_version`` (digest §6); here Alembic owns the schema and
its history lives in ``emufleet/db/migrations/versions``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from emufleet.db.engine import engine as make_engine
from emufleet.db.engine import safe_url, sqlite_file, translate_db_errors
from emufleet.errors import DatabaseError

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "require_schema", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic ``Config`` pointing at the packaged migrations (no ``alembic.ini``)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with this version of emufleet."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "emufleet ships at least one migration"
    return head


def current_revision(eng: Engine) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@translate_db_errors("database upgrade")
def upgrade(url: str | Engine | None = None, revision: str = "head") -> str:
    """Bring the database at ``url`` (an URL, an engine, or the default URL) up to ``revision``; idempotent.

    Safe when several processes upgrade one database at once (bots of a launch, a CLI call): the migration runs in
    one transaction that first takes the write lock (SQLite ``BEGIN IMMEDIATE``; PostgreSQL DDL is transactional),
    and a process that finds the work done by another simply returns. Returns the revision afterwards.

    The only way a database is created: a SQLite file that does not exist yet is created here (with its folder),
    also through an ``Engine`` made without ``create`` (a private engine then does the work).

    Raises:
        DatabaseError: the database cannot be reached or migrated (the SQLAlchemy error is its cause).
    """
    owned = not isinstance(url, Engine)
    if isinstance(url, Engine):
        eng = url
        file = sqlite_file(url.url)
        if file is not None and not file.exists():
            eng, owned = make_engine(url.url.render_as_string(hide_password=False), create=True), True
    else:
        eng = make_engine(url, create=True)
    try:
        if revision == "head" and current_revision(eng) == head_revision():
            return _revision_now(eng)  # the common case: nothing to do, no lock taken
        cfg = alembic_config()
        with eng.connect() as conn:
            if eng.dialect.name == "sqlite":
                # pysqlite runs DDL outside any transaction unless one is open: open it, and take the write lock
                # now, so a concurrent upgrader waits here and then sees our finished schema.
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            if revision == "head" and MigrationContext.configure(conn).get_current_revision() == head_revision():
                conn.rollback()
            else:
                cfg.attributes["connection"] = conn
                try:
                    command.upgrade(cfg, revision)
                    conn.commit()
                except DBAPIError:
                    conn.rollback()
                    # PostgreSQL: a concurrent upgrader committed the same DDL first; fine if it reached head.
                    if revision != "head" or current_revision(eng) != head_revision():
                        raise
        return _revision_now(eng)
    finally:
        if owned:
            eng.dispose()


@translate_db_errors("database check")
def require_schema(eng: Engine) -> str:
    """Check that the database of ``eng`` exists and holds emufleet's tables; an existing schema of an older
    revision is migrated (:func:`upgrade`). Every command but ``emufleet db upgrade`` starts here, so nothing else
    creates a database. Returns the revision.

    Raises:
        DatabaseError: the database does not exist or cannot be reached, or it holds no emufleet schema (a
            mistyped URL, an empty file), naming the URL and ``emufleet db upgrade``.
    """
    current = current_revision(eng)
    if current is None:
        raise DatabaseError(f"database {safe_url(eng.url.render_as_string(hide_password=False))} holds no emufleet "
                            "tables (create them with `emufleet db upgrade`)", action="connect")
    return current if current == head_revision() else upgrade(eng)


def _revision_now(eng: Engine) -> str:
    """The database's revision, ``"base"`` when empty."""
    return current_revision(eng) or "base"
