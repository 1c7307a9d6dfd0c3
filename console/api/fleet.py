"""``/api/instances`` and ``/api/bots``: what runs where, from the live snapshot (:mod:`console.fleet`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request

from console.pages.instances import context
from emufleet.boundary import JsonObject

if TYPE_CHECKING:
    from console.fleet import BotView
    from emufleet.pools import LeaseRow

__all__ = ["router"]

router = APIRouter(tags=["instances"])


def _bot(request: Request, view: BotView, lease: LeaseRow | None) -> JsonObject:
    config = request.app.state.config
    return {**view.status.model_dump(mode="json"), "flow_run_id": str(view.flow_run_id),
            "flow_run_url": config.flow_run_url(view.flow_run_id), "run_state": view.run_state,
            "started": view.started.isoformat() if view.started else None,
            "account_since": lease.leased_at.isoformat() + "Z" if lease and lease.leased_at else None}


@router.get("/bots", summary="Every live bot of every group")
async def bots(request: Request) -> list[JsonObject]:
    snap = await request.app.state.hub.get()
    return [_bot(request, b, snap.lease_of(b.status)) for g in snap.groups for b in g.bots]


@router.get("/instances", summary="Running groups with their instances; idle and inactive instances")
async def instances(request: Request) -> JsonObject:
    snap = await request.app.state.hub.get()
    ctx = context(snap)
    config = request.app.state.config
    return {
        "prefect_error": snap.error,
        "groups": [{"group": r["group"].name, "launch_run_id": str(r["group"].launch_run_id or "") or None,
                    "launch_run_url": config.flow_run_url(r["group"].launch_run_id) if r["group"].launch_run_id
                    else None, "pools": r["pools"],
                    "bots": [_bot(request, b["view"], b["lease"]) for b in r["bots"]]} for r in ctx["running"]],
        "idle": ctx["idle"],
        "inactive": [{"instance": i, "groups": g} for i, g in ctx["inactive"]],
    }
