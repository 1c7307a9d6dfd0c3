"""Sessions: the flight recorders' sessions on this host (``<state>/sessions``, docs/sessions.md), newest first,
with the command that replays each one."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

__all__ = ["router"]

router = APIRouter()


@router.get("/sessions", response_class=HTMLResponse)
async def sessions(request: Request) -> Response:
    from emufleet.sessions.store import list_sessions, sessions_root

    found = await asyncio.to_thread(list_sessions)  # a folder walk: off the event loop
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(request, "sessions.html", {"nav": "sessions", "sessions": found,
                                                           "root": sessions_root(),
                                                           "msg": request.query_params.get("msg")})
