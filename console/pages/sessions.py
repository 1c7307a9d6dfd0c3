"""Sessions: the flight recorders' sessions on this host (``<state>/sessions``, docs/sessions.md), newest first,
with the command that replays each one; ``?group=G&since=T&until=T`` (ISO 8601, UTC when no zone is given) shows
one launch's (the history links each launch to its own)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from console.pages.dashboard import parse_instant

__all__ = ["router"]

router = APIRouter()


@router.get("/sessions", response_class=HTMLResponse)
async def sessions(request: Request, group: str | None = None, since: str | None = None,
                   until: str | None = None) -> Response:
    from emufleet.sessions.store import group_sessions_root, list_sessions, sessions_root

    group = group.strip() or None if group else None
    start, end = parse_instant(since, "since"), parse_instant(until, "until")
    root = group_sessions_root(group) if group else None
    found = await asyncio.to_thread(list_sessions, root, since=start, until=end)  # a folder walk: off the loop
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(request, "sessions.html", {
        "nav": "sessions", "sessions": found, "root": sessions_root(), "msg": request.query_params.get("msg"),
        "filtered": group is not None or start is not None or end is not None,
        "filters": {"group": group, "since": since, "until": until}})
