"""The live wall (docs/console.md "Live wall"): ``GET /api/wall`` says someone looks and returns every instance's
newest screen; ``GET /api/wall/frame`` returns one screen's JPEG.

A request is the look itself: the page asks once a second while visible and not at all while hidden, so bots
publish (their own captures) and this host's idle capturer captures only while someone looks. The capturer runs
off the event loop, one round at a time, started by these requests.

Each frame is read from the database once per console, whatever the number of viewers: ``GET /api/wall`` reads the
frames that changed since the last answer (one query) into a memory cache (one frame per instance listed), and
``GET /api/wall/frame`` answers from it (the database only for a frame the cache does not hold).
"""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.datastructures import State

from emufleet.boundary import JsonObject

__all__ = ["router"]

router = APIRouter(prefix="/wall", tags=["wall"])


def _space() -> JsonObject | None:
    from emufleet.errors import EmufleetError
    from emufleet.vision import load_templates

    try:
        space = load_templates(None).space
    except EmufleetError:
        return None
    return {"width": space.width, "height": space.height, "title_bar": space.title_bar,
            "device_width": space.device_width, "device_height": space.device_height}


def _idle(request: Request) -> None:
    """One round of this host's idle capturer, on a thread, unless one runs (made on first use)."""
    from emufleet.hosts.registry import this_host
    from emufleet.wall import IdleCapturer

    state = request.app.state
    capturer = getattr(state, "wall_idle", None)
    if capturer is None:
        capturer = state.wall_idle = IdleCapturer(state.engine, this_host())
        state.wall_tasks = set()
    task = asyncio.get_running_loop().create_task(asyncio.to_thread(capturer.tick))
    state.wall_tasks.add(task)
    task.add_done_callback(state.wall_tasks.discard)


def _frames(state: State) -> dict[tuple[str, str], tuple[float, bytes]]:
    """The console's cache of the newest frames: ``{(host, serial): (at, JPEG)}`` (made on first use)."""
    frames: dict[tuple[str, str], tuple[float, bytes]] | None = getattr(state, "wall_frames", None)
    if frames is None:
        frames = state.wall_frames = {}
    return frames


@router.get("", summary="Every instance's newest screen (a look: bots and idle capturers publish while asked)")
async def wall(request: Request, full: str | None = Query(None, description="host/serial shown at device size",
                                                         max_length=300)) -> JsonObject:
    from emufleet.hosts.registry import this_host
    from emufleet.wall import store

    engine = request.app.state.engine
    await asyncio.to_thread(store.want, engine)
    if full and "/" in full:
        host, serial = full.split("/", 1)
        await asyncio.to_thread(store.want, engine, host, serial, full=True)
    _idle(request)
    if not hasattr(request.app.state, "wall_space"):
        request.app.state.wall_space = await asyncio.to_thread(_space)
    found = await asyncio.to_thread(store.screens, engine)
    frames, listed = _frames(request.app.state), {(s.host, s.serial): s.at for s in found}
    changed = [key for key, at in listed.items() if key not in frames or frames[key][0] != at]
    if changed:
        frames.update(await asyncio.to_thread(store.jpegs, engine, changed))
    for key in frames.keys() - listed.keys():  # gone from the wall: the cache holds what it lists, no more
        del frames[key]
    return {"host": this_host(), "space": request.app.state.wall_space, "screens": [
        {"host": s.host, "serial": s.serial, "at": s.at, "width": s.width, "height": s.height, "full": s.full,
         "source": s.source, "group": s.group, "bot": s.bot, "step": s.step, "driven": s.driven,
         "overlay": json.loads(s.overlay) if s.overlay else []} for s in found]}


@router.get("/frame", summary="One instance's newest screen as JPEG (404 when none)")
async def frame(request: Request, host: str = Query(..., max_length=255),
                serial: str = Query(..., max_length=255),
                at: float | None = Query(None, description="the capture time the wall listed (any when absent)")
                ) -> Response:
    from emufleet.wall import store

    cached = _frames(request.app.state).get((host, serial))
    if cached is not None and (at is None or cached[0] == at):
        data: bytes | None = cached[1]
    else:
        data = await asyncio.to_thread(store.jpeg, request.app.state.engine, host, serial)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
