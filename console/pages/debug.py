"""The Debug page (docs/studio.md "Step debugger"): start a routine on a local instance, then step it with buttons.

Server-rendered forms (it works without JavaScript): each command posts, waits until the routine paused again or
ended (at most a few seconds), and redirects to the session's page, which shows the paused step, the variables,
why the previous step's template checks matched or not, and the frame with their overlay. While the routine runs
between pauses the page refreshes itself every second.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.debugger import Debuggers
from console.forms import form_pairs
from emufleet.debug import COMMANDS

__all__ = ["router"]

router = APIRouter()
_SETTLE_S = 10.0


def _page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(request, name, {"nav": "routines", **context}, status_code=status)


def _hub(request: Request) -> Debuggers:
    hub: Debuggers = request.app.state.debuggers
    return hub


async def _start_page(request: Request, form: dict[str, str], error: str | None = None, status: int = 200
                      ) -> Response:
    from console.pages.routines import load_registry

    registry, _ = await asyncio.to_thread(load_registry)
    return _page(request, "debug.html", {"keys": [r.key for r in registry.routines()], "form": form,
                                         "error": error, "sessions": _hub(request).all()}, status)


@router.get("/debug", response_class=HTMLResponse)
async def start_page(request: Request) -> Response:
    return await _start_page(request, {"routine": request.query_params.get("routine", "")})


@router.post("/debug", response_class=HTMLResponse)
async def start(request: Request) -> Response:
    from console.pages.routines import load_registry
    from emufleet.errors import EmufleetError

    form = dict(await form_pairs(request))
    registry, _ = await asyncio.to_thread(load_registry)
    try:
        running = await _hub(request).start(registry, form.get("routine", ""), form.get("serial", "").strip(),
                                            form.get("breakpoints", "").splitlines(), run=form.get("run") == "true")
    except EmufleetError as exc:  # a bad breakpoint, an instance a launch holds, a device gone: said on the form
        return await _start_page(request, form, str(exc), 409 if "locked" in str(exc) else 422)
    await asyncio.to_thread(running.session.wait, _SETTLE_S)
    return RedirectResponse(f"/debug/{running.id}", status_code=303)


@router.get("/debug/{session_id}", response_class=HTMLResponse)
async def session_page(request: Request, session_id: str) -> Response:
    running = _hub(request).get(session_id)
    if running is None:
        return await _start_page(request, {}, f"no debugging session {session_id!r}", 404)
    return _page(request, "debug_session.html", {"run": running, "snap": running.session.snapshot()})


@router.post("/debug/{session_id}/{command}", response_class=HTMLResponse)
async def command(request: Request, session_id: str, command: str) -> Response:
    from emufleet.debug import Breakpoint
    from emufleet.errors import InputError

    running = _hub(request).get(session_id)
    if running is None or command not in (*COMMANDS, "breakpoints"):
        return await _start_page(request, {}, f"no debugging session {session_id!r} or command {command!r}", 404)
    stepper = running.session.stepper
    error = None
    try:
        if command == "breakpoints":
            form = dict(await form_pairs(request))
            stepper.set_breakpoints([Breakpoint.parse(t) for t in form.get("breakpoints", "").splitlines()
                                     if t.strip()])
        else:
            stepper.command(command)
            await asyncio.to_thread(running.session.wait, _SETTLE_S)
    except InputError as exc:
        error = str(exc)
    if error:
        return _page(request, "debug_session.html", {"run": running, "snap": running.session.snapshot(),
                                                     "error": error}, 422)
    return RedirectResponse(f"/debug/{session_id}", status_code=303)
