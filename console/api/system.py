"""``GET /api/system``: the local system's health model, the one ``emufleet status`` prints
(:mod:`emufleet.system.health`: ``Healthy``/``Degraded``/``Critical``, per component its state, uptime and issue)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from emufleet.boundary import JsonObject

__all__ = ["router", "system_model"]

router = APIRouter(tags=["operations"])


def system_model() -> JsonObject:
    """The health of :func:`flows.system.local_components`, as JSON (each component asked at once, off the loop)."""
    from emufleet.system import system_health
    from flows.system import local_components

    return system_health(local_components()).to_json()


@router.get("/system", summary="System health: Healthy, Degraded or Critical, with each component's state, uptime "
                               "and issue (what `emufleet status` prints)")
async def system() -> JsonObject:
    return await asyncio.to_thread(system_model)
