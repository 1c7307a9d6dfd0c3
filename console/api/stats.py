"""``/api/stats``, ``/api/launches``, ``/api/quarantines``: the dashboard's data (:mod:`console.farm`)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from console.farm import read_history, series_json, sessions_url
from console.pages.dashboard import parse_day
from emufleet.boundary import JsonObject
from emufleet.errors import InputError
from emufleet.farm import METRICS, StatsFilter, active, release, series

__all__ = ["router"]

router = APIRouter(tags=["farm"])


@router.get("/stats", summary="Throughput series over the last hour, day or week")
async def stats(request: Request, metric: Annotated[list[str] | None, Query()] = None, window: str = "day",
                group: str | None = None, host: str | None = None, instance: str | None = None) -> JsonObject:
    """Rates per bucket for each ``metric`` (repeat the parameter; default: all of them). Accounts and statistics
    are per hour, steps per second. Filters: ``group``, ``host``, ``instance`` (``host/serial``)."""
    data = await asyncio.to_thread(series, request.app.state.engine, metric or list(METRICS), window,
                                   where=StatsFilter(group, host, instance))
    return {"window": window, "filter": {"group": group, "host": host, "instance": instance}, **series_json(data)}


@router.get("/launches", summary="Launch history, newest first")
async def launches(request: Request, group: str | None = None, since: str | None = None, until: str | None = None,
                   limit: int = Query(100, ge=1, le=1000)) -> list[JsonObject]:
    """Every launch (``since``/``until``: ``YYYY-MM-DD``, UTC) with its end, accounts done and failed, packs,
    recoveries by rung and give-ups. ``state`` is the recorded final state, else Prefect's; ``flow_run_url`` (its
    Prefect run, whose bot runs hold the failure evidence) and ``sessions_url`` (its bots' flight sessions) link it."""
    found, states = await read_history(request.app.state.engine, group=group, since=parse_day(since, "since"),
                                       until=parse_day(until, "until"), limit=limit)
    config = request.app.state.config
    return [{"launch_id": s.launch_id, "group": s.group, "host": s.host, "bots": s.bots,
             "started_at": s.started_at.isoformat() + "Z", "ended_at": s.ended_at.isoformat() + "Z" if s.ended_at
             else None, "state": s.final_state or states.get(s.launch_id), "message": s.message,
             "accounts_completed": s.accounts_completed, "accounts_failed": s.accounts_failed,
             "packs_opened": s.packs_opened, "recoveries": s.recoveries, "gave_up": s.gave_up,
             "flow_run_url": config.flow_run_url(s.launch_id), "sessions_url": sessions_url(s)} for s in found]


@router.get("/quarantines", summary="Instances and accounts out of service")
async def quarantines(request: Request) -> list[JsonObject]:
    entries = await asyncio.to_thread(active, request.app.state.engine)
    return [{"kind": q.kind, "subject": q.subject, "reason": q.reason, "since": q.since.isoformat() + "Z",
             "cooldown_until": q.cooldown_until.isoformat() + "Z" if q.cooldown_until else None} for q in entries]


class ReleaseRequest(BaseModel):
    kind: str = Field(pattern="^(instance|account)$")
    subject: str = Field(min_length=1, max_length=511)


@router.post("/quarantines/release", summary="Release an instance or account from quarantine")
async def release_one(request: Request, body: ReleaseRequest) -> JsonObject:
    if not await asyncio.to_thread(release, request.app.state.engine, body.kind, body.subject, by="api"):
        raise InputError(f"{body.kind} {body.subject!r} is not quarantined", field="subject")
    return {"released": True, "kind": body.kind, "subject": body.subject}
