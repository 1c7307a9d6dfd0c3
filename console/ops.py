"""``/health`` (the process answers), ``/ready`` (what the console needs answers too), ``/metrics``.

``/ready`` checks, each reported with its detail: the **database** (reachable, schema at the head revision), the
**Prefect API** (``GET /api/health``), and the **adb server** (its port accepts a connection; the devices it
lists). It answers 200 when all pass, else 503 — the probe never starts anything (adbutils would start an adb
server on a refused connection, so the port is probed first). Its body also carries ``system``, the local
system's health model (``GET /api/system``, what ``emufleet status`` prints); readiness is the three checks alone,
since a console serves usefully while, say, this host's worker is down.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from console.fleet import FleetSnapshot
from console.metrics import FleetNumbers, render_metrics
from emufleet.bot.metrics import MetricsReading, read_payload
from emufleet.boundary import JsonObject

__all__ = ["router"]

router = APIRouter(tags=["operations"])
log = logging.getLogger(__name__)
HEARTBEAT_WINDOW_S = 60.0  # a live bot's heartbeat (every 10 s) older than this is not shown: six were missed


@router.get("/health", summary="The console process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _database(request: Request) -> JsonObject:
    from emufleet.db import current_revision, head_revision

    engine = request.app.state.engine
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current, head = current_revision(engine), head_revision()
    except Exception as exc:  # any driver error means "not ready"; its text is the detail
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"}
    if current != head:
        return {"ok": False, "detail": f"schema at {current or 'nothing'}, head is {head} (emufleet db upgrade)"}
    return {"ok": True, "detail": f"{engine.url.render_as_string(hide_password=True)} at {head}"}


def _prefect() -> JsonObject:
    from prefect.settings import get_current_settings

    from flows.server import health_ok

    url = get_current_settings().api.url
    if not url:
        return {"ok": False, "detail": "PREFECT_API_URL is not set"}
    return {"ok": health_ok(url, timeout_s=2.0), "detail": url}


def _adb() -> JsonObject:
    from emufleet.device import list_devices
    from emufleet.errors import EmufleetError

    port = int(os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            pass
    except OSError as exc:
        return {"ok": False, "detail": f"adb server on 127.0.0.1:{port}: {exc.strerror or exc}"}
    try:
        devices = list_devices(adb_port=port)
    except EmufleetError as exc:
        return {"ok": False, "detail": str(exc)}
    online = sum(1 for d in devices if d.state == "device")
    return {"ok": True, "detail": f"127.0.0.1:{port}: {online} device(s) online of {len(devices)}"}


@router.get("/ready", summary="Database, Prefect API and adb server reachable (503 when one is not)")
async def ready(request: Request) -> JSONResponse:
    from console.api.system import system_model

    database, prefect, adb, system = await asyncio.gather(
        asyncio.to_thread(_database, request), asyncio.to_thread(_prefect), asyncio.to_thread(_adb),
        asyncio.to_thread(system_model))
    checks = {"database": database, "prefect": prefect, "adb": adb}
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse({"ready": ok, "checks": checks, "system": system}, status_code=200 if ok else 503)


def _counts(request: Request) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    from emufleet.pools import count_by_state, discover

    engine = request.app.state.engine
    pools = {e.definition.name: count_by_state(engine, pool=e.definition.name)
             for e in discover() if e.definition is not None}
    return count_by_state(engine), pools


async def _bot_metrics(snapshot: FleetSnapshot) -> dict[UUID, MetricsReading]:
    """The metrics in each live bot's latest heartbeat (none when the Prefect API does not answer)."""
    from prefect.client.orchestration import get_client

    from adapters.events import latest_events

    runs = [b.flow_run_id for g in snapshot.groups for b in g.bots]
    if not runs or snapshot.error:
        return {}
    try:
        async with get_client() as client:
            beats = await latest_events(client, "bot.heartbeat", runs, within_s=HEARTBEAT_WINDOW_S)
    except Exception as exc:  # a busy server: the scrape still answers with what it has
        log.warning("console: heartbeats not read: %s", exc)
        return {}
    readings = {run: read_payload(event.payload) for run, event in beats.items()}
    return {run: r for run, r in readings.items() if r is not None}


@router.get("/metrics", summary="Prometheus metrics of the fleet", response_class=Response)
async def metrics(request: Request) -> Response:
    snapshot = await request.app.state.hub.get(max_age_s=2.0)
    (accounts, pools), bot_metrics = await asyncio.gather(asyncio.to_thread(_counts, request),
                                                          _bot_metrics(snapshot))
    from emufleet.hosts import this_host
    from emufleet.resources.loadfile import read_load

    load = await asyncio.to_thread(read_load, this_host())
    body = render_metrics(FleetNumbers(snapshot, accounts, pools, bot_metrics, host_load=load))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
