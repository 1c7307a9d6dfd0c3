"""``GET /api/sessions``: the flight recorders' sessions on this host (``list_sessions``)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

from emufleet.boundary import JsonObject

__all__ = ["router"]

router = APIRouter(prefix="/sessions", tags=["sessions"])


@router.get("", summary="Sessions written by the flight recorders on this host, newest first")
async def list_all(limit: int = Query(200, ge=1, le=2000)) -> list[JsonObject]:
    from emufleet.sessions.store import list_sessions

    found = await asyncio.to_thread(list_sessions, limit=limit)
    return [{"folder": str(s.folder), "label": s.label, "serial": s.serial, "routine": s.routine,
             "reason": s.reason, "started_at": s.started_at, "end": s.end, "step": s.step, "frames": s.frames,
             "lines": s.lines, "error": s.error} for s in found]
