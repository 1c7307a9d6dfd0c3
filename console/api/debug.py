"""The step debugger over HTTP (docs/studio.md "Step debugger"): ``POST /api/debug`` starts a session on a local
instance (locked as a bot locks it: 409 while a launch holds it), ``GET /api/debug/{id}`` says where it is paused
(step, reason, variables, the previous step's verdicts), ``POST /api/debug/{id}/{command}`` steps it, ``PUT
/api/debug/{id}/breakpoints`` replaces its breakpoints, ``GET /api/debug/{id}/frame`` is the frame with the overlay
of the last image step (PNG)."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from console.debugger import Debuggers, Running
from emufleet.boundary import JsonObject

__all__ = ["router"]

router = APIRouter(prefix="/debug", tags=["debug"])
_SETTLE_S = 10.0  # a command answers once the routine paused again or ended, or after this long (still running)


class DebugStart(BaseModel):
    routine: str = Field(..., max_length=300, description="Registry key, e.g. demo/reach_home.")
    serial: str = Field(..., max_length=255, description="A local instance's serial, e.g. 127.0.0.1:16384.")
    breakpoints: list[str] = Field(default_factory=list, max_length=200,
                                   description="[ROUTINE:]PATH (steps[1].actions[0]) or [ROUTINE:]LINE each.")
    run: bool = Field(False, description="Run to the first breakpoint instead of pausing before the first step.")


class Breakpoints(BaseModel):
    breakpoints: list[str] = Field(default_factory=list, max_length=200)


def _hub(request: Request) -> Debuggers:
    hub: Debuggers = request.app.state.debuggers  # Starlette's app.state is untyped
    return hub


def _found(request: Request, session_id: str) -> Running:
    running = _hub(request).get(session_id)
    if running is None:
        raise HTTPException(404, f"no debugging session {session_id!r}")
    return running


def _body(running: Running) -> JsonObject:
    return {"id": running.id, "serial": running.serial, **running.session.snapshot()}


@router.post("", status_code=201, summary="Start debugging a routine on a local instance (paused on entry)")
async def start(request: Request, body: DebugStart) -> JsonObject:
    from console.pages.routines import load_registry

    found, _ = await asyncio.to_thread(load_registry)
    running = await _hub(request).start(found, body.routine, body.serial, body.breakpoints, run=body.run)
    await asyncio.to_thread(running.session.wait, _SETTLE_S)
    return _body(running)


@router.get("", summary="The console's debugging sessions")
async def sessions(request: Request) -> list[JsonObject]:
    return [_body(r) for r in _hub(request).all()]


@router.get("/{session_id}", summary="Where the session is: paused step, variables, the last step's verdicts")
async def state(request: Request, session_id: str) -> JsonObject:
    return _body(_found(request, session_id))


@router.post("/{session_id}/{command}", summary="Step over / into / out, continue, or stop")
async def command(request: Request, session_id: str,
                  command: Literal["over", "into", "out", "continue", "stop"]) -> JsonObject:
    running = _found(request, session_id)
    running.session.stepper.command(command)
    await asyncio.to_thread(running.session.wait, _SETTLE_S)
    return _body(running)


@router.put("/{session_id}/breakpoints", summary="Replace the session's breakpoints")
async def breakpoints(request: Request, session_id: str, body: Breakpoints) -> JsonObject:
    from emufleet.debug import Breakpoint

    running = _found(request, session_id)
    running.session.stepper.set_breakpoints([Breakpoint.parse(t) for t in body.breakpoints if t.strip()])
    return _body(running)


@router.get("/{session_id}/frame", summary="The last frame with the last step's overlay (PNG; 404 before any)")
async def frame(request: Request, session_id: str) -> Response:
    png = await asyncio.to_thread(_found(request, session_id).session.overlay_png)
    if png is None:
        return Response(status_code=404)
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})
