"""What the dashboard and the history pages read, in one place for the pages and the API (:mod:`emufleet.farm`).

Blocking database work runs in a worker thread (:func:`asyncio.to_thread`): the console's event loop never waits on
the database. Launches whose process died keep no final state in the database; their state is read from Prefect
(one query for all of them), so the history never shows a dead launch as running.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode
from uuid import UUID

from sqlalchemy import Engine, func, select

from console.fleet import FleetSnapshot
from emufleet.db import utcnow
from emufleet.db.models import FleetEvent
from emufleet.errors import InputError
from emufleet.farm import (
    WINDOWS,
    LaunchSummary,
    PoolForecast,
    QuarantineEntry,
    Series,
    StatsFilter,
    active,
    forecast,
    list_launches,
    series,
)
from emufleet.hosts import InstanceId
from emufleet.pools import count_by_state

__all__ = ["CHARTS", "LABELS", "BotCounts", "Dashboard", "bot_counts", "launch_states", "read_dashboard",
           "read_history", "series_json", "sessions_url"]

log = logging.getLogger(__name__)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)

#: the dashboard's charts: title → metrics drawn together
CHARTS: dict[str, tuple[str, ...]] = {
    "Accounts per hour": ("accounts_completed", "accounts_failed"),
    "Statistics per hour": ("packs_opened", "cards_found", "stars_total", "keep_count"),
    "Steps per second": ("steps_per_s",),
    "Recoveries and give-ups per hour": ("recoveries", "gave_up", "stuck"),
}

#: what each metric counts, in words (chart legends, the totals under each chart)
LABELS: dict[str, str] = {
    "accounts_completed": "accounts completed", "accounts_failed": "accounts failed", "packs_opened": "packs opened",
    "cards_found": "cards found", "stars_total": "stars", "keep_count": "cards kept", "steps_per_s": "steps",
    "recoveries": "recovery rungs", "gave_up": "give-ups", "stuck": "stuck detections",
}


@dataclass(frozen=True, slots=True)
class BotCounts:
    """Bots by what they are doing now: running, stuck, recovering, paused, idle (instances of running groups with no
    bot), dead (gave up, failed or crashed, not replaced)."""

    running: int = 0
    stuck: int = 0
    recovering: int = 0
    paused: int = 0
    idle: int = 0
    dead: int = 0


@dataclass(frozen=True, slots=True)
class Dashboard:
    """Everything the home page shows."""

    window: str
    where: StatsFilter
    series: dict[str, Series]
    counts: BotCounts
    forecasts: list[PoolForecast]
    quarantines: list[QuarantineEntry]
    groups: list[str] = field(default_factory=list)
    hosts: list[str] = field(default_factory=list)
    instances: list[str] = field(default_factory=list)


def _stuck_bots(engine: Engine, since: datetime) -> set[tuple[str, int]]:
    """``(group, bot)`` whose newest ledger entry since ``since`` is ``bot.stuck`` (detected, not yet recovering)."""
    newest = select(FleetEvent.group_name, FleetEvent.bot, func.max(FleetEvent.id).label("id")).where(
        FleetEvent.at >= since).group_by(FleetEvent.group_name, FleetEvent.bot).subquery()
    with engine.connect() as conn:
        rows = conn.execute(select(FleetEvent.group_name, FleetEvent.bot, FleetEvent.kind).join(
            newest, FleetEvent.id == newest.c.id)).all()
    return {(g, int(b)) for g, b, kind in rows if kind == "bot.stuck"}


def bot_counts(engine: Engine, snap: FleetSnapshot, idle: int) -> BotCounts:
    """The live bots of ``snap`` by state (``idle``: the instances of running groups without a bot). A failed bot
    that a newer bot of its group replaced on its instance (a healing launch, docs/farm.md) is not counted dead."""
    stuck = _stuck_bots(engine, utcnow() - timedelta(minutes=10))
    counts = {"running": 0, "stuck": 0, "recovering": 0, "paused": 0, "dead": 0}
    for group in snap.groups:
        newest: dict[InstanceId, int] = {}  # instance → the newest bot there
        for view in group.bots:
            newest[view.status.instance] = max(newest.get(view.status.instance, -1), view.status.bot)
        for view in group.bots:
            state = view.status.state.value
            if (group.name, view.status.bot) in stuck and state == "running":
                counts["stuck"] += 1
            elif state in ("running", "starting"):
                counts["running"] += 1
            elif state in ("recovering", "restarting"):
                counts["recovering"] += 1
            elif state == "paused":
                counts["paused"] += 1
            elif (state == "failed" or view.run_state == "Crashed") and newest[view.status.instance] == view.status.bot:
                counts["dead"] += 1
    return BotCounts(idle=idle, **counts)


def _choices(engine: Engine) -> tuple[list[str], list[str], list[str]]:
    since = utcnow() - timedelta(days=7)
    with engine.connect() as conn:
        rows = conn.execute(select(FleetEvent.group_name, FleetEvent.host, FleetEvent.instance).where(
            FleetEvent.at >= since).distinct()).all()
    return (sorted({r[0] for r in rows}), sorted({r[1] for r in rows}), sorted({r[2] for r in rows}))


def _read(engine: Engine, window: str, where: StatsFilter, snap: FleetSnapshot, idle: int) -> Dashboard:
    metrics = [m for ms in CHARTS.values() for m in ms]
    data = series(engine, metrics, window, where=where)
    pools = sorted({p for d in snap.definitions.values() for p in d.pools})
    forecasts = [forecast(engine, pool, count_by_state(engine, pool=pool).get("available", 0)) for pool in pools]
    groups, hosts, instances = _choices(engine)
    return Dashboard(window, where, data, bot_counts(engine, snap, idle), forecasts, active(engine), groups, hosts,
                     instances)


async def read_dashboard(engine: Engine, snap: FleetSnapshot, *, window: str = "day", where: StatsFilter | None = None,
                         idle: int = 0) -> Dashboard:
    """The dashboard for ``window`` and filter ``where`` (off the event loop).

    Raises:
        InputError: an unknown window.
    """
    if window not in WINDOWS:
        raise InputError(f"window {window!r}: expected one of {', '.join(WINDOWS)}", field="window")
    return await asyncio.to_thread(_read, engine, window, where or StatsFilter(), snap, idle)


def series_json(data: dict[str, Series]) -> dict[str, object]:
    """``{"t": [epoch s…], "series": {metric: {"label", "unit", "values", "breakdown"}}}`` (every metric on one time
    axis; ``label`` says what it counts in words)."""
    first = next(iter(data.values()), None)
    times = [(t - datetime(1970, 1, 1)).total_seconds() for t in first.times()] if first else []
    return {"t": times, "bucket_s": first.bucket_s if first else None,
            "series": {name: {"label": LABELS.get(name, name), "unit": s.unit,
                              "values": [round(v, 4) for v in s.values],
                              "breakdown": {k: [round(v, 4) for v in vs] for k, vs in s.breakdown.items()}}
                       for name, s in data.items()}}


async def launch_states(summaries: Sequence[LaunchSummary]) -> dict[str, str]:
    """The Prefect state of each launch with no recorded end (its process may have died), by launch id; empty when
    the Prefect API does not answer."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    # a launch id that is no flow run id (a run outside Prefect) has nothing to ask
    open_ids = [UUID(s.launch_id) for s in summaries if s.final_state is None and _UUID.match(s.launch_id)]
    if not open_ids:
        return {}
    try:
        async with get_client() as client:
            runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=open_ids)))
    except Exception as exc:  # the Prefect API is down: the history shows what the database knows
        log.warning("console: Prefect API read failed for the history: %s", exc)
        return {}
    return {str(r.id): r.state.name for r in runs if r.state is not None and r.state.name}


def sessions_url(launch: LaunchSummary) -> str:
    """The console's page of ``launch``'s flight sessions: its group's, started between its start and its end."""
    query = {"group": launch.group, "since": launch.started_at.isoformat() + "Z"}
    if launch.ended_at is not None:
        query["until"] = launch.ended_at.isoformat() + "Z"
    return "/sessions?" + urlencode(query)


async def read_history(engine: Engine, *, group: str | None, since: datetime | None, until: datetime | None,
                       limit: int = 100) -> tuple[list[LaunchSummary], dict[str, str]]:
    """The launches (newest first) and the Prefect state of those without a recorded end."""
    launches = await asyncio.to_thread(list_launches, engine, group=group, since=since, until=until, limit=limit)
    return launches, await launch_states(launches)
