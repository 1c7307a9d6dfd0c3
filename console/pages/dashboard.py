"""The fleet dashboard (the console's home page) and the launch history (docs/console.md, "Dashboard").

The dashboard: bots by state now, each pool's accounts left and ETA, active quarantines (with Release), and the
throughput charts over the last hour, day or week, for the whole farm or one group, host or instance. Charts are
drawn by ``static/dashboard.js`` with the vendored uPlot from the same data ``GET /api/stats`` serves (embedded in
the page as JSON); without JavaScript the page shows the window's totals as a table.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import TypeAdapter, ValidationError

from console.farm import CHARTS, LABELS, read_dashboard, read_history, series_json, sessions_url
from console.forms import form_pairs
from console.pages.instances import context
from emufleet.errors import InputError
from emufleet.farm import StatsFilter, release

__all__ = ["parse_day", "parse_instant", "router"]

router = APIRouter()
T = TypeVar("T")
_DATE = TypeAdapter(date)
_TIME = TypeAdapter(datetime)


def _opt(value: str | None) -> str | None:
    return value.strip() or None if value is not None else None


def _parse(value: str | None, field: str, adapter: TypeAdapter[T], what: str) -> T | None:
    if not value or not value.strip():
        return None
    try:
        return adapter.validate_python(value.strip())
    except ValidationError as exc:
        raise InputError(f"{value[:40]!r} is not {what}", field=field) from exc


def parse_day(value: str | None, field: str) -> datetime | None:
    """``YYYY-MM-DD`` (a form's date input) → naive UTC midnight, ``None`` when empty.

    Raises:
        InputError: not such a date.
    """
    day = _parse(value, field, _DATE, "a date (YYYY-MM-DD)")
    return datetime(day.year, day.month, day.day) if day is not None else None


def parse_instant(value: str | None, field: str) -> float | None:
    """An ISO 8601 time (naive: UTC) → Unix s, ``None`` when empty.

    Raises:
        InputError: not such a time.
    """
    at = _parse(value, field, _TIME, "a time (ISO 8601, e.g. 2026-12-07T09:57:15Z)")
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() if at is not None else None


@router.get("/", response_class=HTMLResponse)
async def dashboard(request: Request, window: str = "day", group: str | None = None, host: str | None = None,
                    instance: str | None = None) -> Response:
    snap = await request.app.state.hub.get()
    where = StatsFilter(_opt(group), _opt(host), _opt(instance))
    board = await read_dashboard(request.app.state.engine, snap, window=window, where=where,
                                 idle=len(context(snap)["idle"]))
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(request, "dashboard.html", {
        "nav": "dashboard", "board": board, "charts": CHARTS, "labels": LABELS,
        "data": json.dumps(series_json(board.series)), "msg": request.query_params.get("msg")})


@router.get("/history", response_class=HTMLResponse)
async def history(request: Request, group: str | None = None, since: str | None = None,
                  until: str | None = None) -> Response:
    launches, states = await read_history(request.app.state.engine, group=_opt(group),
                                          since=parse_day(since, "since"), until=parse_day(until, "until"))
    tpl: Jinja2Templates = request.app.state.templates
    return tpl.TemplateResponse(request, "history.html", {
        "nav": "history", "launches": launches, "states": states, "sessions_url": sessions_url,
        "filters": {"group": group or "", "since": since or "", "until": until or ""}})


@router.post("/quarantines/release")
async def release_quarantine(request: Request) -> Response:
    form = dict(await form_pairs(request))
    kind, subject = form.get("kind", ""), form.get("subject", "")
    if kind not in ("instance", "account"):
        raise InputError(f"kind {kind[:20]!r}: expected 'instance' or 'account'", field="kind")
    done = await asyncio.to_thread(release, request.app.state.engine, kind, subject, by="console")
    msg = f"{kind} {subject} released" if done else f"{kind} {subject} was not quarantined"
    return RedirectResponse(f"/?{urlencode({'msg': msg})}", status_code=303)
