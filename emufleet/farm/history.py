"""Launch history: every launch of every group, with its end and what it did (the console's History page).

A launch writes its row when it starts (:func:`record_start`) and its final state when it ends
(:func:`record_end`); a launch whose process died keeps ``final_state`` NULL (the console then shows the state
Prefect gives its flow run). What it did is counted from the rest of the database, by the launch id (its
orchestration id): ``account_results`` (accounts completed and failed, packs), ``fleet_events`` (recoveries by
rung, give-ups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from emufleet.db.engine import utcnow
from emufleet.db.models import AccountResultRecord, FleetEvent, LaunchRecord

__all__ = ["LaunchSummary", "list_launches", "record_end", "record_start"]


def record_start(engine: Engine, launch_id: str, group: str, *, host: str = "local", bots: int = 0,
                 at: datetime | None = None) -> None:
    """Record that ``launch_id`` of ``group`` started (idempotent: a retried launch keeps its first start)."""
    values = {"launch_id": launch_id, "group_name": group, "host": host, "bots": bots,
              "started_at": at or utcnow()}
    dialect = engine.dialect.name
    stmt = (postgresql.insert(LaunchRecord) if dialect == "postgresql" else sqlite.insert(LaunchRecord)).values(
        **values).on_conflict_do_nothing(index_elements=["launch_id"])
    with engine.begin() as conn:
        conn.execute(stmt)


def record_end(engine: Engine, launch_id: str, state: str, message: str | None = None, *,
               at: datetime | None = None) -> bool:
    """Record the final state of ``launch_id`` (``Completed``, ``Failed``, ``Cancelled``…); ``False`` when the
    launch has no row (it started before this database knew launches)."""
    with engine.begin() as conn:
        done = conn.execute(update(LaunchRecord).where(LaunchRecord.launch_id == launch_id).values(
            ended_at=at or utcnow(), final_state=state[:32], message=(message or None) and message[:2000]))
    return bool(done.rowcount)


@dataclass(frozen=True, slots=True)
class LaunchSummary:
    """One launch and what it did. Times are naive UTC; ``final_state`` is ``None`` while it runs (or if its process
    died before recording its end)."""

    launch_id: str
    group: str
    host: str
    started_at: datetime
    ended_at: datetime | None
    final_state: str | None
    message: str | None
    bots: int
    accounts_completed: int = 0
    accounts_failed: int = 0
    packs_opened: int = 0
    recoveries: dict[str, int] = field(default_factory=dict)  # rung → count
    gave_up: int = 0

    @property
    def recoveries_total(self) -> int:
        return sum(self.recoveries.values())

    @property
    def duration_s(self) -> float | None:
        return (self.ended_at - self.started_at).total_seconds() if self.ended_at else None


def list_launches(engine: Engine, *, group: str | None = None, since: datetime | None = None,
                  until: datetime | None = None, limit: int = 100) -> list[LaunchSummary]:
    """The launches started in ``[since, until)`` (naive UTC; either open), of ``group`` if given, newest first, at
    most ``limit``, each with its counts."""
    query = select(LaunchRecord).order_by(LaunchRecord.started_at.desc()).limit(max(1, min(limit, 1000)))
    if group is not None:
        query = query.where(LaunchRecord.group_name == group)
    if since is not None:
        query = query.where(LaunchRecord.started_at >= since)
    if until is not None:
        query = query.where(LaunchRecord.started_at < until)
    with Session(engine) as session:
        launches = list(session.scalars(query))
    with engine.connect() as conn:
        ids = [record.launch_id for record in launches]
        results: dict[str, dict[str, int]] = {}
        if ids:
            for owner, outcome, n, packs in conn.execute(
                    select(AccountResultRecord.lease_owner, AccountResultRecord.outcome, func.count(),
                           func.coalesce(func.sum(AccountResultRecord.packs_opened), 0))
                    .where(AccountResultRecord.lease_owner.in_(ids))
                    .group_by(AccountResultRecord.lease_owner, AccountResultRecord.outcome)):
                entry = results.setdefault(str(owner), {})
                entry[outcome] = int(n)
                entry["packs"] = entry.get("packs", 0) + int(packs or 0)
        rungs: dict[str, dict[str, int]] = {}
        gave_up: dict[str, int] = {}
        if ids:
            for launch_id, kind, rung, n in conn.execute(
                    select(FleetEvent.launch_id, FleetEvent.kind, FleetEvent.rung, func.count())
                    .where(FleetEvent.launch_id.in_(ids), FleetEvent.kind.in_(("bot.recovering", "bot.gave-up")))
                    .group_by(FleetEvent.launch_id, FleetEvent.kind, FleetEvent.rung)):
                key = str(launch_id)
                if kind == "bot.gave-up":
                    gave_up[key] = gave_up.get(key, 0) + int(n)
                else:
                    rungs.setdefault(key, {})[rung or "?"] = int(n)
    out = []
    for record in launches:
        counts = results.get(record.launch_id, {})
        out.append(LaunchSummary(record.launch_id, record.group_name, record.host, record.started_at,
                                 record.ended_at, record.final_state, record.message, record.bots,
                                 counts.get("completed", 0), counts.get("failed", 0), counts.get("packs", 0),
                                 rungs.get(record.launch_id, {}), gave_up.get(record.launch_id, 0)))
    return out
