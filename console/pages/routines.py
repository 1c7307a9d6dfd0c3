"""Routines (digest §12.4): cards (steps, sub-routines, sentries, tags, config) and Validate with located errors.

The registry is the one the bots use (:class:`emufleet.routines.RoutineRegistry` over ``routines/`` with the
project's template set), so a card is valid here exactly when a launch would accept the routine. The editor
validates YAML text against the grammar without saving (routine files are edited in the repository).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from console.forms import form_pairs
from emufleet.boundary import JsonObject

if TYPE_CHECKING:
    from emufleet.errors import EmufleetError, RoutineValidationError
    from emufleet.routines import RoutineRegistry

__all__ = ["cards", "load_registry", "router"]

router = APIRouter()


def load_registry() -> tuple[RoutineRegistry, EmufleetError | None]:
    from emufleet.errors import EmufleetError
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir
    from emufleet.vision import load_templates

    try:
        templates = load_templates()
        template_error = None
    except EmufleetError as exc:  # routines are still listed; template names go unchecked
        templates, template_error = None, exc
    return RoutineRegistry.load(data_dir("routines"), templates=templates), template_error


def cards() -> tuple[list[JsonObject], list[tuple[str, list[RoutineValidationError]]], EmufleetError | None]:
    """``(valid routine cards, [(key, errors)] of invalid ones, template set error or None)``."""
    from emufleet.routines.loader import walk_steps
    from emufleet.routines.registry import routine_refs

    registry, template_error = load_registry()
    out = []
    for routine in registry.routines():
        subs = sorted({key for key, loc in routine_refs(routine) if loc[0] != "sentries"})
        out.append({"key": routine.key, "name": routine.name, "description": routine.model.description or "",
                    "tags": routine.tags, "steps": len(routine.steps),
                    "actions": sum(1 for _ in walk_steps(routine.steps)), "subroutines": subs,
                    "sentries": [s.routine for s in routine.sentries], "config": routine.config,
                    "path": registry.path(routine.key)})
    return out, list(registry.invalid().items()), template_error


def _page(request: Request, context: JsonObject, status: int = 200) -> Response:
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(
        request, "routines.html", {"nav": "routines", "tag": request.query_params.get("tag"), **context},
        status_code=status)


@router.get("/routines", response_class=HTMLResponse)
async def routines(request: Request) -> Response:
    valid, invalid, template_error = await asyncio.to_thread(cards)
    return _page(request, {"cards": valid, "invalid": invalid, "template_error": template_error,
                           "validated": False})


@router.post("/routines/validate", response_class=HTMLResponse)
async def validate(request: Request) -> Response:
    """Validate the whole folder (files and cross-references), or the posted YAML ``text`` alone."""
    from emufleet.routines.loader import read_routine
    from emufleet.settings import data_dir

    form = dict(await form_pairs(request))
    valid, invalid, template_error = await asyncio.to_thread(cards)
    context = {"cards": valid, "invalid": invalid, "template_error": template_error, "validated": True}
    if "text" in form:
        key = form.get("key") or "edited"
        # parsing up to 1 MiB of YAML in pure Python takes seconds: off the loop (issue 23 item 11)
        _, errors = await asyncio.to_thread(read_routine, data_dir("routines") / f"{key}.yaml", key,
                                            text=form["text"])
        context.update({"text": form["text"], "key": key, "text_errors": errors})
    return _page(request, context, status=422 if invalid or context.get("text_errors") else 200)
