"""``/api/groups``: definitions (list, get, create, replace, delete, validate) and running groups (launch, bots,
pause, resume, stop, restart-app, restart-instance)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Body, Query, Request, Response

from console.editing import validate_group
from console.forms import raise_all
from emufleet.boundary import JsonObject
from emufleet.errors import OrchestrationError
from emufleet.groups import BotStatus, GroupDefinition, GroupStore, LaunchOverrides

__all__ = ["router"]

router = APIRouter(prefix="/groups", tags=["groups"])
Definition = Body(..., description="A group definition: the keys of a groups/*.yaml file",
                  examples=[{"name": "demo", "routine": "demo/account_cycle", "instances": [0], "bots": 1}])


def _checked(data: JsonObject) -> GroupDefinition:
    group, errors = validate_group(data)
    if group is None:
        raise_all(errors)
    return group


# Handlers that only read or write files are plain functions: FastAPI runs them in its thread pool, off the
# event loop (a slow or huge file must not stall /health or the live page: issue 23 item 11).
@router.get("", summary="Every group definition, and the files that do not load")
def list_groups() -> JsonObject:
    listing = GroupStore().list()
    return {"groups": [g.model_dump(mode="json", exclude_none=True) for g in listing.groups.values()],
            "errors": [str(e) for e in listing.errors]}


@router.post("/validate", summary="Validate a definition without saving it")
def validate(data: JsonObject = Definition) -> JsonObject:
    group, errors = validate_group(data)
    return {"valid": group is not None, "errors": [
        {"field": e.field, "line": e.line, "col": e.col, "message": e.message} for e in errors]}


@router.post("", status_code=201, summary="Create a definition (409 when the name exists)")
def create(data: JsonObject = Definition) -> JsonObject:
    group = _checked(data)
    GroupStore().save(group)
    return GroupStore().get(group.name).model_dump(mode="json", exclude_none=True)


@router.get("/{name}", summary="One definition")
def get(name: str) -> JsonObject:
    return GroupStore().get(name).model_dump(mode="json", exclude_none=True)


@router.put("/{name}", summary="Replace a definition (a different name renames it)")
def replace(name: str, data: JsonObject = Definition) -> JsonObject:
    store = GroupStore()
    store.get(name)
    group = _checked(data)
    store.save(group, overwrite=group.name == name)
    if group.name != name:
        store.delete(name)
    return store.get(group.name).model_dump(mode="json", exclude_none=True)


@router.delete("/{name}", status_code=204, summary="Delete a definition (409 while it runs, unless force)")
async def delete(request: Request, name: str, force: bool = False) -> Response:
    store = GroupStore()
    await asyncio.to_thread(store.get, name)
    if not force and (await request.app.state.hub.get(max_age_s=0)).group(name) is not None:
        raise OrchestrationError(f"group {name!r} is running; stop it first (or force)")
    await asyncio.to_thread(store.delete, name)
    return Response(status_code=204)


@router.post("/{name}/launch", status_code=202, summary="Launch the group (a launch-group flow run)")
async def launch(request: Request, name: str, overrides: LaunchOverrides | None = None) -> JsonObject:
    record = await request.app.state.launcher.launch(name, overrides)  # GroupValidationError: 422, naming the group
    config = request.app.state.config
    return {"group": name, "flow_run_id": str(record.flow_run_id) if record.flow_run_id else None,
            "flow_run_url": config.flow_run_url(record.flow_run_id) if record.flow_run_id else None,
            "state": record.state, "message": record.message}


@router.get("/{name}/bots", summary="The group's bots (live ones, or also finished ones)")
async def bots(name: str, live: bool = True) -> list[BotStatus]:
    from flows.control import status

    return await status(name, live=live)


async def _control(action: str, name: str, bot: int | None) -> JsonObject:
    from flows import control

    count = await getattr(control, action)(name, bot=bot, source="console")
    if not count:  # nothing ran: an unknown group is an error (422), not "0 runs stopped"
        await asyncio.to_thread(GroupStore().get, name)
    return {"group": name, "bot": bot, "action": action, "flow_runs": count}


@router.post("/{name}/pause", summary="Pause the group (or one bot) at its next checkpoint")
async def pause(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    return await _control("pause", name, bot)


@router.post("/{name}/resume", summary="Resume the group (or one bot)")
async def resume(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    return await _control("resume", name, bot)


@router.post("/{name}/stop", summary="Stop the group (or one bot): runs cancelled, accounts returned")
async def stop(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    return await _control("stop", name, bot)


async def _restart(action: str, rung: str, name: str, bot: int | None) -> JsonObject:
    from flows import control

    count = await control.restart(name, rung, bot=bot, source="console")
    return {"group": name, "bot": bot, "action": action, "bots": count}


@router.post("/{name}/restart-app", summary="Restart the game of the group's bots (or one bot), same account: "
             "the bot's recovery rung restart_app, resuming at its last checkpoint, no failure budget spent")
async def restart_app(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    return await _restart("restart-app", "restart_app", name, bot)


@router.post("/{name}/restart-instance", summary="Restart the emulator instance of the group's bots (or one bot), "
             "then the game: the bot's recovery rung restart_instance, no failure budget spent")
async def restart_instance(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    return await _restart("restart-instance", "restart_instance", name, bot)


@router.post("/{name}/record", summary="Write the flight recorder of the group's bots (or one bot) as a session now: "
             "its last record.seconds of frames and inputs, linked from the bot's flow run (docs/sessions.md)")
async def record(name: str, bot: int | None = Query(None, ge=0)) -> JsonObject:
    from flows import control

    return {"group": name, "bot": bot, "action": "record", "bots": await control.record(name, bot=bot)}
