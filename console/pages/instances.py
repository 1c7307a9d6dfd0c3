"""Instances (digest §12.2): per running group, each instance's bot — account and since when, status, current
step, health, last failure — then the idle instances (listed by a running group, no bot on them) and the
inactive ones (in a definition, no group running). Live over SSE (``data-live="instances"``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from console.fleet import FleetSnapshot
from emufleet.boundary import JsonObject
from emufleet.groups import InstanceRef

__all__ = ["context", "router"]

router = APIRouter()


def _ref(instance: InstanceRef) -> str:
    return str(instance)  # an index, a serial, or ``host/instance``


def context(snap: FleetSnapshot) -> JsonObject:
    """Template context of the live views: running groups with their pools' progress, idle and inactive instances.

    An instance of a definition is named as the definition names it (index or serial); a bot reports its serial,
    so an index-named instance is "busy" when the group has as many bots as its definition asks for.
    """
    running = []
    busy_groups = {g.name for g in snap.groups}
    idle: list[JsonObject] = []
    for group in snap.groups:
        definition = snap.definitions.get(group.name)
        pools = []
        for pool in definition.pools if definition else []:
            counts = snap.pools.get(pool, {})
            total = sum(counts.values())
            pools.append({"name": pool, "remaining": counts.get("available", 0), "total": total,
                          "in_use": counts.get("in_use", 0)})
        bots = [{"view": b, "lease": snap.lease_of(b.status)} for b in group.bots]
        running.append({"group": group, "definition": definition, "pools": pools, "bots": bots})
        if definition is not None:
            serials = {b.status.instance.serial for b in group.bots} | {b.status.instance.key for b in group.bots}
            for instance in definition.instances[len(group.bots):] if len(group.bots) >= definition.bots else []:
                if _ref(instance) not in serials:
                    idle.append({"instance": _ref(instance), "group": group.name})
    inactive: dict[str, list[str]] = {}
    for name, definition in sorted(snap.definitions.items()):
        if name in busy_groups:
            continue
        for instance in definition.instances:
            inactive.setdefault(_ref(instance), []).append(name)
    return {"running": running, "idle": idle, "inactive": sorted(inactive.items()), "prefect_error": snap.error,
            "quarantined": snap.quarantined}


@router.get("/instances", response_class=HTMLResponse)
async def instances(request: Request) -> Response:
    snap = await request.app.state.hub.get()
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(
        request, "instances.html", {"nav": "instances", "snap": snap, **context(snap),
                                    "msg": request.query_params.get("msg")})
