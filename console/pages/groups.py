"""Groups (digest §12.1): definitions as cards, running groups live, the editor, launch and control.

The editor's Save / Save as copy / Delete write through :class:`emufleet.groups.GroupStore` (what ``emufleet
groups save|delete`` use); Launch starts a ``launch-group`` flow run in the console process (``emufleet groups
launch`` semantics) with the form's overrides; Pause / Resume / Stop are :mod:`flows.control`.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.editing import GROUP_FLAGS, from_yaml, group_data, raw_group, validate_group
from console.forms import FieldErrors, form_pairs, nest, parse_lines, parse_list, yaml_text
from emufleet.boundary import JsonObject
from emufleet.errors import EmufleetError, GroupValidationError, InputError
from emufleet.groups import GroupStore, LaunchOverrides, OnConflict, RestartMode

__all__ = ["RESTARTS", "launch_overrides", "router"]

#: The operator's recovery actions and the bot's rung each one takes (flows.control.restart).
RESTARTS = {"restart-app": "restart_app", "restart-instance": "restart_instance"}

router = APIRouter()
NEW = "_new"


def _page(request: Request, name: str, context: JsonObject, status: int = 200) -> Response:
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(request, name, {"nav": "groups", **context}, status_code=status)


def _redirect(path: str, message: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?msg={quote(message)}" if message else ""), status_code=303)


def _routines() -> list[str]:
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir

    return RoutineRegistry.load(data_dir("routines")).keys()


def _pools() -> list[str]:
    from emufleet.pools import discover

    return [e.definition.name for e in discover() if e.definition is not None]


def _pool_refresh(request: Request, names: list[str]) -> list[str]:
    """The launch dialog's words on each of the group's pools (the CLI's pre-launch prompt: "pool 'demo' was last
    refreshed 5m ago; manual refresh only")."""
    from emufleet.pools import describe_freshness, find_pool, last_refreshed

    out = []
    for name in names:
        try:
            interval = find_pool(name).config.refresh_interval
        except EmufleetError as exc:
            out.append(f"pool {name!r}: {exc}")
            continue
        out.append(describe_freshness(name, last_refreshed(request.app.state.engine, name), interval))
    return out


@router.get("/groups", response_class=HTMLResponse)
async def groups(request: Request) -> Response:
    listing = await asyncio.to_thread(GroupStore().list)  # file reads off the loop (issue 23 item 11)
    snap = await request.app.state.hub.get()
    from console.pages.instances import context

    return _page(request, "groups.html", {"listing": listing, "snap": snap, **context(snap),
                                          "launches": request.app.state.launcher.records[:10],
                                          "msg": request.query_params.get("msg")})


def _editor(request: Request, name: str, data: JsonObject, errors: list[InputError] | None = None, *,
            tab: str = "form", yaml: str | None = None, status: int = 200) -> Response:
    errs = FieldErrors.of(errors or [], data)
    return _page(request, "group_edit.html", {
        "name": name, "data": data, "errors": errs, "all_errors": errors or [], "tab": tab,
        "yaml": yaml if yaml is not None else yaml_text(data), "flags": GROUP_FLAGS,
        "conflicts": [c.value for c in OnConflict], "modes": [m.value for m in RestartMode],
        "routines": _routines(), "pools": _pools(), "is_new": name == NEW,
        "pool_refresh": _pool_refresh(request, data.get("pools") or []),
        "msg": request.query_params.get("msg")}, status=status)


@router.get("/groups/new", response_class=HTMLResponse)
async def new_group(request: Request) -> Response:
    return await asyncio.to_thread(_new_group, request)


def _new_group(request: Request) -> Response:
    routines = _routines()
    data = {"version": 1, "name": "", "routine": routines[0] if routines else "", "backend": "simulator",
            "instances": [0], "bots": 1, "pools": [], "launch": {}}
    return _editor(request, NEW, data)


@router.get("/groups/{name}", response_class=HTMLResponse)
async def edit_group(request: Request, name: str) -> Response:
    return await asyncio.to_thread(_edit_group, request, name)  # the editor loads routines and pools: files


def _edit_group(request: Request, name: str) -> Response:
    try:
        data = raw_group(name)
    except GroupValidationError as exc:
        path = GroupStore().path(name)
        if not path.is_file():
            raise
        text = path.read_text(encoding="utf-8")  # a broken file: edit it as YAML, its error shown
        return _editor(request, name, {"name": name}, [exc], tab="yaml", yaml=text, status=422)
    return _editor(request, name, data, tab=request.query_params.get("tab", "form"))


def _running(request: Request, name: str) -> bool:
    snap = request.app.state.hub.latest
    return snap is not None and snap.group(name) is not None


@router.post("/groups/{name}", response_class=HTMLResponse)
async def save_group(request: Request, name: str) -> Response:
    pairs = await form_pairs(request)
    form = dict(pairs)
    action = form.get("action", "save")
    if action == "delete":
        if (await request.app.state.hub.get()).group(name) is not None:
            raise GroupValidationError(f"group {name!r} is running; stop it first", field="name")
        await asyncio.to_thread(GroupStore().delete, name)
        return _redirect("/groups", f"deleted group {name}")
    return await asyncio.to_thread(_save_group, request, name, pairs, form)  # files: off the loop


def _save_group(request: Request, name: str, pairs: list[tuple[str, str]], form: dict[str, str]) -> Response:
    action = form.get("action", "save")
    store = GroupStore()
    base = {} if name == NEW else raw_group(name)
    if "yaml" in form:
        data, errors = from_yaml(form["yaml"], f"groups/{name}.yaml", error=GroupValidationError)
        tab = "yaml"
    else:
        tab = "form"
        try:
            data, errors = group_data(pairs, base), []
        except InputError as exc:
            data, errors = base, [exc]
    if data is not None and action == "copy":
        data = {**data, "name": form.get("copy_name") or f"{data.get('name', name)} copy",
                "created_at": None, "updated_at": None}
        data = {k: v for k, v in data.items() if v is not None}
    group = None
    if not errors and data is not None:
        group, errors = validate_group(data)
    if group is None:
        return _editor(request, name, data or {"name": name}, errors, tab=tab,
                       yaml=form.get("yaml"), status=422)
    renamed = name not in (NEW, group.name) and action == "save"
    try:
        store.save(group, overwrite=action == "save" and not renamed and name != NEW)
    except GroupValidationError as exc:
        assert data is not None  # the group was validated from it
        return _editor(request, name, data, [exc], tab=tab, status=409)
    if renamed:
        store.delete(name)
    verb = "copied to" if action == "copy" else "saved"
    return _redirect(f"/groups/{quote(group.name)}", f"{verb} {group.name}")


def launch_overrides(form: JsonObject, group: str) -> LaunchOverrides:
    """The launch dialog's fields (``o.<name>``) for ``group`` as :class:`LaunchOverrides`; blank fields keep the
    definition's.

    Raises:
        InputError: a config line is not ``key=value``. GroupValidationError: overrides out of bounds, each
            named (``group <group> with overrides: <field>: <message>``).
    """
    o = nest(form.items(), prefix="o")
    values: JsonObject = {}
    for key in ("bots", "max_accounts", "stagger"):
        if str(o.get(key, "")).strip():
            values[key] = o[key].strip()
    if str(o.get("instances", "")).strip():
        values["instances"] = [int(i) if i.isdigit() else i for i in parse_list(o["instances"])]
    if str(o.get("pools", "")).strip():
        values["pools"] = parse_list(o["pools"])
    if o.get("on_conflict"):
        values["on_conflict"] = o["on_conflict"]
    values["routine_config"] = parse_lines(o.get("routine_config", ""), field="routine_config")
    if o.get("refresh_pools") == "true":
        values["refresh_pools"] = True
    return LaunchOverrides.parse(values, group=group)


@router.post("/groups/{name}/launch", response_class=HTMLResponse)
async def launch(request: Request, name: str) -> Response:
    form = dict(await form_pairs(request))
    # errors reach the app's handlers as they are: a refused override or group (422) names the group, a server
    # that cannot be reached is no "overrides rejected"
    record = await request.app.state.launcher.launch(name, launch_overrides(form, name))
    where = f" (flow run {record.flow_run_id})" if record.flow_run_id else ""
    return _redirect("/instances" if form.get("next") == "instances" else "/groups", f"launched {name}{where}")


@router.post("/groups/{name}/control", response_class=HTMLResponse)
async def control(request: Request, name: str) -> Response:
    from flows import control as ctl

    form = dict(await form_pairs(request))
    action = form.get("action", "")
    if action not in ("pause", "resume", "stop", "record", *RESTARTS):
        raise GroupValidationError(f"unknown action {action!r}", field="action")
    bot = int(form["bot"]) if form.get("bot", "").isdigit() else None
    if action in RESTARTS:
        count, what = await ctl.restart(name, RESTARTS[action], bot=bot), "bot(s) told"
    elif action == "record":  # the flight recorder's ring written now (docs/sessions.md)
        count, what = await ctl.record(name, bot=bot), "bot(s) told"
    else:
        count, what = await getattr(ctl, action)(name, bot=bot), "flow run(s)"
    target = name + (f" bot {bot}" if bot is not None else "")
    back = form.get("next") if form.get("next") in ("instances", "groups") else "groups"
    return _redirect(f"/{back}", f"{action}: {target} ({count} {what})")
