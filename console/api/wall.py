"""The live wall (docs/console.md "Live wall"): ``GET /api/wall`` says someone looks and returns every instance's
newest screen; ``GET /api/wall/frame`` returns one screen's JPEG.

A request is the look itself: the page asks once a second while visible and not at all while hidden, so bots
publish (their own captures) and this host's idle capturer captures only while someone looks. The capturer runs
off the event loop, one round at a time, started by these requests.

Each frame is read from the database once per console, whatever the number of viewers: ``GET /api/wall`` reads the
frames that changed (one query) into a memory cache (:class:`FrameCache`, one frame per instance listed). With
``since`` (the previous answer's ``frames`` token) the answer carries the frames that changed since inline, so a
page makes one request a second however many screens move; ``GET /api/wall/frame`` answers from the cache too
(the database only for a frame the cache does not hold).

Both parse the instance they name into an :class:`~emufleet.hosts.InstanceId` as they validate their query: a
malformed ``full``, ``host`` or ``serial`` is a 422 naming that parameter.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field
from starlette.datastructures import State

from emufleet.boundary import JsonObject
from emufleet.hosts import InstanceId, check_host_name, check_serial

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from emufleet.wall.store import Screen

__all__ = ["FrameCache", "router"]

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


class FrameCache:
    """The console's newest frame of each listed instance, read from the database once whatever the number of
    viewers. Each frame that enters gets a sequence number: a page that says which number it has seen
    (``since``, ``"<epoch>:<seq>"``; the epoch changes when the console restarts) gets only the newer frames inline.
    Used from the event loop only (the database read runs on a thread, the updates back on the loop)."""

    def __init__(self) -> None:
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self.frames: dict[InstanceId, tuple[float, bytes, int]] = {}  # instance → (at, JPEG, seq)

    @property
    def token(self) -> str:
        return f"{self.epoch}:{self.seq}"

    def changed(self, listed: dict[InstanceId, float]) -> list[InstanceId]:
        """The listed instances whose frame the cache lacks or holds at another capture time; forgets the unlisted."""
        for key in self.frames.keys() - listed.keys():
            del self.frames[key]
        return [key for key, at in listed.items() if key not in self.frames or self.frames[key][0] != at]

    def put(self, read: dict[InstanceId, tuple[float, bytes]]) -> None:
        for key, (at, data) in read.items():
            self.seq += 1
            self.frames[key] = (at, data, self.seq)

    def newer(self, since: str | None) -> dict[InstanceId, bytes]:
        """The frames a page that saw ``since`` lacks (all of them for another epoch or an unreadable token)."""
        epoch, _, seq = (since or "").partition(":")
        seen = int(seq) if epoch == self.epoch and seq.isdigit() else -1
        return {key: data for key, (_, data, n) in self.frames.items() if n > seen}


def _cache(state: State) -> FrameCache:
    cache: FrameCache | None = getattr(state, "wall_frames", None)
    if cache is None:
        cache = state.wall_frames = FrameCache()
    return cache


def _look(engine: Engine, full: InstanceId | None) -> list[Screen]:
    """The look (the whole wall, and ``full`` at device size) and the screens, on one thread."""
    from emufleet.wall import store

    store.want_wall(engine)
    if full is not None:
        store.want(engine, full, full=True)
    return store.screens(engine)


class WallQuery(BaseModel):
    """``GET /api/wall``'s query."""

    full: InstanceId | None = Field(None, description="host/serial (a bare serial: on host `local`) shown at device "
                                    "size")
    since: str | None = Field(None, max_length=64, description="the `frames` token of the previous answer: the "
                              "frames that changed since come inline (base64 `jpeg`)")


class FrameQuery(BaseModel):
    """``GET /api/wall/frame``'s query: the instance as two parameters (``wall.js`` builds them from a screen)."""

    host: Annotated[str, Field(max_length=255, description="the instance's host"), AfterValidator(check_host_name)]
    serial: Annotated[str, Field(max_length=255, description="its adb serial there"), AfterValidator(check_serial)]
    at: float | None = Field(None, description="the capture time the wall listed (any when absent)")

    @property
    def instance(self) -> InstanceId:
        return InstanceId(self.host, self.serial)  # both parts are valid: this cannot raise


@router.get("", summary="Every instance's newest screen (a look: bots and idle capturers publish while asked)")
async def wall(request: Request, query: Annotated[WallQuery, Query()]) -> JsonObject:
    from emufleet.hosts.registry import this_host
    from emufleet.wall import store

    engine = request.app.state.engine
    found = await asyncio.to_thread(_look, engine, query.full)
    _idle(request)
    if not hasattr(request.app.state, "wall_space"):
        request.app.state.wall_space = await asyncio.to_thread(_space)
    cache = _cache(request.app.state)
    changed = cache.changed({s.instance: s.at for s in found})
    if changed:
        cache.put(await asyncio.to_thread(store.jpegs, engine, changed))
    inline = cache.newer(query.since) if query.since is not None else {}
    return {"host": this_host(), "space": request.app.state.wall_space, "frames": cache.token, "screens": [
        {"host": s.instance.host, "serial": s.instance.serial, "at": s.at, "width": s.width, "height": s.height,
         "full": s.full, "source": s.source, "group": s.group, "bot": s.bot, "step": s.step, "driven": s.driven,
         "overlay": json.loads(s.overlay) if s.overlay else [],
         **({"jpeg": base64.b64encode(inline[s.instance]).decode()} if s.instance in inline else {})}
        for s in found]}


@router.get("/frame", summary="One instance's newest screen as JPEG (404 when none)")
async def frame(request: Request, query: Annotated[FrameQuery, Query()]) -> Response:
    from emufleet.wall import store

    instance = query.instance
    cached = _cache(request.app.state).frames.get(instance)
    if cached is not None and (query.at is None or cached[0] == query.at):
        data: bytes | None = cached[1]
    else:
        data = await asyncio.to_thread(store.jpeg, request.app.state.engine, instance)
    if data is None:
        return Response(status_code=404)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
