"""The one emufleet database: SQLAlchemy 2.0 models, engines and Alembic migrations (digest §6).

Usage::

    from emufleet import db
    eng = db.engine()            # settings.database_url(): SQLite WAL file, or EMUFLEET_DATABASE_URL
    db.require_schema(eng)       # refuses a missing database or schema; `db.upgrade(url)` creates/migrates
    with db.session(eng) as s:   # a Session bound to the engine, committed by the caller
        s.scalars(select(db.Account)).all()
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from emufleet.db.engine import BUSY_TIMEOUT_MS, engine, safe_url, sqlite_file, translate_db_errors, utcnow
from emufleet.db.migrate import current_revision, head_revision, require_schema, upgrade
from emufleet.db.models import (
    COMMAND_KINDS,
    POOL_STATUSES,
    Account,
    AccountResultRecord,
    Base,
    ControlCommand,
    ControlCursor,
    ControlLaunch,
    FleetEvent,
    InstanceClaim,
    LaunchBudget,
    LaunchRecord,
    LiveScreen,
    LiveWatch,
    PoolMember,
    PoolRecord,
    Quarantine,
    RoutineExecution,
)

__all__ = [
    "BUSY_TIMEOUT_MS",
    "COMMAND_KINDS",
    "POOL_STATUSES",
    "Account",
    "AccountResultRecord",
    "Base",
    "ControlCommand",
    "ControlCursor",
    "ControlLaunch",
    "FleetEvent",
    "InstanceClaim",
    "LaunchBudget",
    "LaunchRecord",
    "LiveScreen",
    "LiveWatch",
    "PoolMember",
    "PoolRecord",
    "Quarantine",
    "RoutineExecution",
    "current_revision",
    "engine",
    "head_revision",
    "require_schema",
    "safe_url",
    "session",
    "sqlite_file",
    "translate_db_errors",
    "upgrade",
    "utcnow",
]


def session(eng: Engine) -> Session:
    """A new ORM session on ``eng`` (``expire_on_commit=False``: records stay readable after commit)."""
    return Session(eng, expire_on_commit=False)
