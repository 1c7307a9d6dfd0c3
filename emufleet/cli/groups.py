"""``emufleet groups``: definitions (list, show, save, delete) and running groups (launch, stop, pause, resume,
restart-app, restart-instance).

Commands that talk to Prefect use the server of :func:`flows.server.ensure_server` (``PREFECT_API_URL``, or the
local one ``emufleet demo``/``groups launch`` started, or a new one) and import the flows only then, so that
``emufleet --help`` stays fast and Prefect never falls back to its ephemeral mode.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import MAX_COUNT, engine, printable
from emufleet.errors import EmufleetError

if TYPE_CHECKING:  # the orchestration layers load inside the commands only (tests/test_layering.py)
    from emufleet.groups.definition import InstanceRef
    from flows.server import PrefectServer

__all__ = ["register"]

groups_app = typer.Typer(help="Bot groups: definitions in groups/, launches as Prefect flow runs.",
                         no_args_is_help=True)

BotOption = Annotated[int | None, typer.Option("--bot", min=0, max=MAX_COUNT,
    help="only this bot (its index in the launch)")]


def register(app: typer.Typer) -> None:
    """Add ``emufleet groups …`` to the root app."""
    app.add_typer(groups_app, name="groups")


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(printable(exc), fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _connect(*, start: bool) -> PrefectServer:
    """The Prefect server to talk to (started when ``start`` and none runs); sets this process's client up."""
    from flows.server import ensure_server, running_server, use_server

    try:
        server = ensure_server() if start else running_server()
    except EmufleetError as exc:
        raise _fail(exc) from exc
    if server is None:
        raise typer.Exit(code=_no_server())
    use_server(server)
    return server


def _no_server() -> int:
    typer.secho("no Prefect server is running (set PREFECT_API_URL, or run `emufleet demo` / "
                "`emufleet groups launch`)", fg=typer.colors.YELLOW, err=True)
    return 1


def parse_sets(values: list[str]) -> dict[str, str]:
    """``["k=v", …]`` → ``{"k": "v"}``; raises ``typer.BadParameter`` naming a malformed item."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected key=value, got {item!r}", param_hint="--set")
        out[key.strip()] = value
    return out


def parse_instances(text: str | None) -> list[InstanceRef] | None:
    """``"0,1,127.0.0.1:16448,hostb/2"`` → ``[0, 1, "127.0.0.1:16448", "hostb/2"]`` (``<host>/…``: on that host)."""
    if text is None:
        return None
    items = [part.strip() for part in text.split(",") if part.strip()]
    if not items:
        raise typer.BadParameter("give at least one instance index or serial", param_hint="--instances")
    return [int(p) if p.isdigit() else p for p in items]


@groups_app.command("list")
def list_groups() -> None:
    """List the group definitions (and the files that do not load, with their errors)."""
    from emufleet.groups import GroupStore

    listing = GroupStore().list()
    for group in listing.groups.values():
        policy = group.launch.restart_policy
        typer.echo(printable(f"{group.name:<20} {group.routine:<24} bots {group.bots}/{len(group.instances)}  "
                             f"pools {','.join(group.pools) or '-'}  restart {policy.mode.value}≤"
                             f"{policy.max_restarts}  {group.description}"))
    for error in listing.errors:
        typer.secho(printable(f"invalid: {error}"), fg=typer.colors.RED, err=True)
    if not listing.groups and not listing.errors:
        typer.echo("no group definitions")


@groups_app.command("show")
def show(name: str) -> None:
    """Show a definition and, when a Prefect server runs, its live bots (instance, account, status, step)."""
    from emufleet.groups import GroupStore

    try:
        group = GroupStore().get(name)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(group.model_dump_json(indent=2, exclude_none=True))
    if group.schedule is not None:
        typer.echo(f"schedule: {group.schedule.describe()}")
    from flows.server import running_server

    if running_server() is None:
        typer.echo("(no Prefect server running: no live bots to show)")
        return
    _connect(start=False)
    from rich.console import Console

    from flows.control import status
    from flows.progress import bots_table

    bots = asyncio.run(status(name))
    Console().print(bots_table(name, bots) if bots else f"group {name!r} has no live bots")


@groups_app.command("save")
def save(file: Annotated[Path, typer.Argument(help="a group YAML file to validate and store")],
         overwrite: Annotated[bool, typer.Option(help="replace an existing definition")] = False) -> None:
    """Validate a group file and store it in groups/ (under its name)."""
    from emufleet.groups import GroupStore, load_group

    try:
        path = GroupStore().save(load_group(file), overwrite=overwrite)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(f"saved {path}")


@groups_app.command("delete")
def delete(name: str,
           force: Annotated[bool, typer.Option(help="delete even if a launch of it is running")] = False) -> None:
    """Delete a definition (refused while the group runs, unless --force; digest §9.2)."""
    from emufleet.groups import GroupStore

    store = GroupStore()
    try:
        store.get(name)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    if not force and _running(name):
        raise _fail(EmufleetError(f"group {name!r} is running; stop it first (or --force)"))
    typer.echo(f"deleted {store.delete(name)}")


def _running(name: str) -> bool:
    from flows.server import running_server

    if running_server() is None:
        return False
    _connect(start=False)
    from flows.control import status

    return bool(asyncio.run(status(name)))


@groups_app.command("launch")
def launch(
    name: str,
    bots: Annotated[int | None, typer.Option(min=1, max=10**4, help="number of bots")] = None,
    instances: Annotated[str | None, typer.Option(help="instance indexes or serials, comma-separated")] = None,
    pool: Annotated[list[str] | None, typer.Option("--pool", help="account pool (repeat for several, in order)")]
    = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="routine config key=value (repeatable)")] = None,
    max_accounts: Annotated[int | None, typer.Option(min=1, max=10**9,
        help="stop leasing after this many accounts")] = None,
    refresh: Annotated[bool | None, typer.Option(
        "--refresh/--no-refresh", help="refresh the pools before launching (default: ask on a terminal, else "
                                       "the group's refresh_pools)")] = None,
    watch: Annotated[bool, typer.Option(help="live table of the bots while it runs")] = True,
) -> None:
    """Launch a group now, in this process, as a ``launch-group`` flow run (visible in the Prefect UI).

    Says when each pool was last refreshed and, on a terminal, offers to refresh it first (the seed's pre-launch
    refresh prompt); ``--refresh``/``--no-refresh`` answer without asking.
    """
    from emufleet.groups import GroupStore, LaunchOverrides

    try:
        overrides = LaunchOverrides.parse({"bots": bots, "instances": parse_instances(instances), "pools": pool or None,
                                           "routine_config": parse_sets(set_ or []), "max_accounts": max_accounts},
                                          group=name)
        definition = GroupStore().get(name).with_overrides(overrides)  # fail here, before a server starts
        if definition.pools:
            refresh = _ask_refresh(definition.pools, refresh, definition.launch.refresh_pools)
            if refresh is not None:
                overrides = overrides.model_copy(update={"refresh_pools": refresh})
    except EmufleetError as exc:  # an unknown or invalid group, overrides out of bounds (naming the group)
        raise _fail(exc) from exc
    server = _connect(start=True)
    typer.echo(f"Prefect UI: {server.ui_url}")
    from flows.progress import run_launch

    result = asyncio.run(run_launch(name, overrides, server=server, watch_bots=watch))
    raise typer.Exit(code=0 if result is not None and not any(b.state == "failed" for b in result.bots) else 1)


def _ask_refresh(pools: list[str], refresh: bool | None, by_default: bool) -> bool | None:
    """Print "pool X was last refreshed N ago" for each pool; return the refresh decision (``None``: the group's).

    Without ``--refresh/--no-refresh``, a terminal user is asked (default: the group's ``refresh_pools``).
    """
    import sys

    from emufleet.pools import describe_freshness, find_pool, last_refreshed

    eng = engine(None)
    for definition in map(find_pool, pools):
        typer.echo(describe_freshness(definition.name, last_refreshed(eng, definition.name),
                                      definition.config.refresh_interval))
    if refresh is None and sys.stdin.isatty() and sys.stdout.isatty():
        return typer.confirm("Refresh the pools now, before launching?", default=by_default)
    return refresh


def _control(action: str, name: str, bot: int | None, rung: str | None = None) -> None:
    _connect(start=False)
    from emufleet.groups import GroupStore
    from flows import control

    try:
        if rung is not None:
            count, what = asyncio.run(control.restart(name, rung, bot=bot, source="cli")), "bot(s) told"
        else:
            count, what = asyncio.run(getattr(control, action)(name, bot=bot, source="cli")), "flow run(s)"
        if not count:  # nothing ran: a group that is not even defined is an error, not "0 runs stopped"
            GroupStore().get(name)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    target = f"group {name!r}" + (f" bot {bot}" if bot is not None else "")
    typer.echo(f"{action}: {target} ({count} {what})")


@groups_app.command("stop")
def stop(name: str, bot: BotOption = None) -> None:
    """Stop a running group (or one bot): its runs are cancelled, accounts returned, instances freed."""
    _control("stop", name, bot)


@groups_app.command("pause")
def pause(name: str, bot: BotOption = None) -> None:
    """Pause a running group (or one bot) at the next checkpoint; leases and locks stay held."""
    _control("pause", name, bot)


@groups_app.command("resume")
def resume(name: str, bot: BotOption = None) -> None:
    """Resume a paused group (or one bot)."""
    _control("resume", name, bot)


@groups_app.command("restart-app")
def restart_app(name: str, bot: BotOption = None) -> None:
    """Restart the game of a running group's bots (or one bot) with the same account, through the bot's recovery
    ladder: the routine resumes at its last checkpoint; no failure budget is spent."""
    _control("restart-app", name, bot, rung="restart_app")


@groups_app.command("restart-instance")
def restart_instance(name: str, bot: BotOption = None) -> None:
    """Restart the emulator instance of a running group's bots (or one bot), then the game with the same account;
    the routine resumes at its last checkpoint; no failure budget is spent."""
    _control("restart-instance", name, bot, rung="restart_instance")
