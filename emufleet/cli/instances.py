"""``emufleet instances list | start I | stop I | create | clone I | quarantined | release I``: emulator instances
through an emulator backend, and the farm's quarantine (docs/farm.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.boundary import JsonObject
from emufleet.cli._common import MAX_PORT, MAX_SECONDS, finite

if TYPE_CHECKING:
    from emufleet.device.backends import EmulatorBackend

__all__ = ["register"]

instances_app = typer.Typer(help="List, start and stop emulator instances.", no_args_is_help=True)

BackendOpt = Annotated[str, typer.Option("--backend", "-b", help="simulator | adb | mumu")]
BasePortOpt = Annotated[int, typer.Option("--base-port", min=1, max=MAX_PORT,
    help="Port of instance 0 (simulator, adb).")]
CountOpt = Annotated[int, typer.Option("--count", min=1, max=1024, help="Instances to list (simulator, adb).")]
ScenarioOpt = Annotated[str, typer.Option("--scenario", help="Scenario for new simulated instances.")]
SerialOpt = Annotated[list[str] | None, typer.Option("--serial", help="adb backend: explicit serials.")]
ManagerOpt = Annotated[str | None, typer.Option("--mumu-manager", help="mumu backend: MuMuManager.exe path.")]


def _backend(name: str, base_port: int, count: int, scenario: str, serials: list[str] | None,
             manager: str | None) -> EmulatorBackend:
    from emufleet.device.backends import get_backend

    options: JsonObject
    if name == "simulator":
        options = {"base_port": base_port, "instances": count, "scenario": scenario}
    elif name == "adb":
        options = {"serials": serials, "base_port": base_port, "count": count}
    else:
        options = {"manager_path": manager}
    return get_backend(name, **options)


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(1)


@instances_app.command("list")
def list_(backend: BackendOpt = "simulator", base_port: BasePortOpt = 16384, count: CountOpt = 4,
          scenario: ScenarioOpt = "demo", serial: SerialOpt = None, mumu_manager: ManagerOpt = None) -> None:
    """List the backend's instances: index, serial, running, state, pid."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.errors import EmufleetError

    try:
        infos = _backend(backend, base_port, count, scenario, serial, mumu_manager).list_instances()
    except EmufleetError as exc:
        raise _fail(exc) from exc
    table = Table("index", "serial", "running", "state", "name", "pid", title=f"{backend} instances")
    for info in infos:
        table.add_row(str(info.index), info.serial, "yes" if info.running else "no", info.state or "",
                      info.name or "", str(info.pid or ""))
    Console().print(table)


@instances_app.command("start")
def start(index: Annotated[int, typer.Argument(min=0, max=1023, help="Instance index.")],
          backend: BackendOpt = "simulator", base_port: BasePortOpt = 16384, count: CountOpt = 4,
          scenario: ScenarioOpt = "demo", serial: SerialOpt = None, mumu_manager: ManagerOpt = None,
          timeout_s: Annotated[float, typer.Option("--timeout", min=0.0, max=MAX_SECONDS, callback=finite,
              help="Seconds until ready.")] = 120.0) -> None:
    """Start instance INDEX if needed and wait until it is ready."""
    from emufleet.errors import EmufleetError

    try:
        device = _backend(backend, base_port, count, scenario, serial, mumu_manager).start(index, timeout_s)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(f"instance {index} ready at {device.serial}")


@instances_app.command("stop")
def stop(index: Annotated[int, typer.Argument(min=0, max=1023, help="Instance index.")],
         backend: BackendOpt = "simulator", base_port: BasePortOpt = 16384, count: CountOpt = 4,
         scenario: ScenarioOpt = "demo", serial: SerialOpt = None, mumu_manager: ManagerOpt = None) -> None:
    """Stop instance INDEX (adb backend: disconnect only)."""
    from emufleet.errors import EmufleetError

    try:
        _backend(backend, base_port, count, scenario, serial, mumu_manager).stop(index)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(f"instance {index} stopped")


@instances_app.command("create")
def create(count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="How many.")] = 1,
           mumu_manager: ManagerOpt = None) -> None:
    """Create COUNT new MuMu instances (MuMuManager create); prints their indexes and serials."""
    from emufleet.device.backends import MumuBackend
    from emufleet.errors import EmufleetError

    try:
        created = MumuBackend(mumu_manager).create(count)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    for info in created:
        typer.echo(f"created instance {info.index} ({info.serial})")


@instances_app.command("clone")
def clone(source: Annotated[int, typer.Argument(min=0, help="The instance to copy (game installed, set up).")],
          count: Annotated[int, typer.Option("--count", "-n", min=1, max=100, help="How many copies.")] = 1,
          mumu_manager: ManagerOpt = None) -> None:
    """Clone MuMu instance SOURCE COUNT times (MuMuManager clone); prints the copies' indexes and serials."""
    from emufleet.device.backends import MumuBackend
    from emufleet.errors import EmufleetError

    try:
        created = MumuBackend(mumu_manager).clone(source, count)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    for info in created:
        typer.echo(f"cloned instance {source} → {info.index} ({info.serial})")


UrlOpt = Annotated[str | None, typer.Option("--url", help="Database URL (default: settings).")]


@instances_app.command("quarantined")
def quarantined(url: UrlOpt = None) -> None:
    """Instances and accounts in quarantine: why, since when, cool-down end."""
    from emufleet.cli._common import engine
    from emufleet.farm import active

    entries = active(engine(url))
    if not entries:
        typer.echo("Nothing is quarantined.")
        return
    for q in entries:
        until = f", cool-down until {q.cooldown_until:%Y-%m-%d %H:%M} UTC" if q.cooldown_until else ""
        typer.echo(f"{q.kind} {q.subject}: {q.reason} (since {q.since:%Y-%m-%d %H:%M} UTC{until})")


@instances_app.command("release")
def release(subject: Annotated[str, typer.Argument(help="host/serial of an instance, or an account id.")],
            account: Annotated[bool, typer.Option("--account", help="SUBJECT is an account id.")] = False,
            url: UrlOpt = None) -> None:
    """End the quarantine of an instance (``host/serial``) or, with --account, of an account."""
    from emufleet.cli._common import engine, fail
    from emufleet.farm import release as release_one

    kind = "account" if account else "instance"
    if not release_one(engine(url), kind, subject, by="cli"):
        raise fail(f"{kind} {subject!r} is not quarantined (see `emufleet instances quarantined`)")
    typer.echo(f"{kind} {subject} released")


@instances_app.command("wall")
def wall(url: UrlOpt = None,
         interval: Annotated[float, typer.Option("--interval", min=0.2, help="Seconds between captures of each "
                                                 "instance while someone looks.")] = 1.0) -> None:
    """Serve the console's live wall from this host: while someone looks, capture this host's instances that no bot
    drives (through this host's adb server on loopback) and publish them (docs/console.md "Live wall"). Run it beside
    each host's Prefect worker; the console does it for its own host. Ctrl-C stops it."""
    import threading

    from emufleet.cli._common import engine
    from emufleet.hosts.registry import this_host
    from emufleet.wall import IdleCapturer

    host = this_host()
    capturer = IdleCapturer(engine(url), host, interval_s=interval)
    typer.echo(f"live wall: capturing idle instances of host {host!r} while someone looks (Ctrl-C stops)")
    stop = threading.Event()
    try:
        capturer.run(stop)
    except KeyboardInterrupt:
        stop.set()
    typer.echo(f"live wall: {sum(capturer.captured.values())} capture(s)")


def register(app: typer.Typer) -> None:
    """Add the ``instances`` sub-command group."""
    app.add_typer(instances_app, name="instances")
