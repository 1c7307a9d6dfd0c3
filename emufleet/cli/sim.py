"""``emufleet sim``: run simulated MuMu instances and steer them (docs/architecture.md "Simulator").

* ``emufleet sim up --instances N [--scenario NAME] [--base-port P] [--detach]``
* ``emufleet sim down [--base-port P]``
* ``emufleet sim status``
* ``emufleet sim fault SERIAL KIND [key=value …]`` (``KIND`` = ``clear`` [KIND] to clear)
* ``emufleet sim state SERIAL [NAME]`` and ``emufleet sim events SERIAL [-n N]``

``fault``/``state``/``events``/``status`` reach the running simulator through its control socket (its port is in
``<state_dir>/sim-<base_port>.json``), so they also work while an instance refuses connections. The same
operations are available through adb as the fake shell's ``emufleet-sim`` command (see
:mod:`emufleet.sim.control`).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.boundary import JsonObject
from emufleet.cli._common import MAX_COUNT, MAX_PORT

if TYPE_CHECKING:
    from emufleet.sim.daemon import SimRecord
    from emufleet.sim.server import Simulator

__all__ = ["register"]

sim_app = typer.Typer(name="sim", help="Simulated MuMu instances speaking the real ADB protocol.",
                      no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    return typer.Exit(1)


@sim_app.command("up")
def up(
    instances: Annotated[int, typer.Option("--instances", "-n", min=1, max=32, help="How many instances.")] = 1,
    scenario: Annotated[str, typer.Option(help="Scenario name (emufleet/sim/scenarios/<name>) or YAML path.")] = "demo",
    base_port: Annotated[int, typer.Option(min=1, max=MAX_PORT,
        help="Port of instance 0; instance i uses base + 32·i.")] = 16384,
    detach: Annotated[bool, typer.Option(help="Run in the background (stop with `emufleet sim down`).")] = False,
) -> None:
    """Serve N simulated instances (foreground until Ctrl-C, or --detach)."""
    from emufleet.errors import EmufleetError
    from emufleet.sim import daemon

    try:
        if detach:
            record = daemon.start_detached(instances, scenario, base_port)
            typer.echo(f"simulator pid {record.pid} serving {' '.join(record.serials)} "
                       f"(log: {daemon.log_path(base_port)})")
            return

        def ready(sim: Simulator, record: SimRecord) -> None:
            typer.echo(f"scenario {sim.scenario.name!r}: serving {' '.join(sim.serials)} (pid {record.pid}); "
                       "Ctrl-C stops")
            typer.echo("connect with: " + "; ".join(f"adb connect {s}" for s in sim.serials))

        daemon.run_foreground(instances, scenario, base_port, on_ready=ready)
    except EmufleetError as exc:
        raise _fail(str(exc)) from exc
    typer.echo("simulator stopped")


@sim_app.command("down")
def down(
    base_port: Annotated[int | None, typer.Option(min=1, max=MAX_PORT,
        help="Stop only the simulator with this base port.")] = None,
) -> None:
    """Stop running simulators (started with `sim up`), and check that they stopped."""
    from emufleet.errors import EmufleetError
    from emufleet.sim import daemon

    records = [r for r in daemon.read_records() if base_port in (None, r.base_port)]
    if not records:
        raise _fail("no simulator is running" + (f" with base port {base_port}" if base_port else ""))
    for record in records:
        try:
            daemon.stop(record)
        except EmufleetError as exc:
            raise _fail(str(exc)) from exc
        typer.echo(f"stopped simulator pid {record.pid} ({' '.join(record.serials)})")


def _request(serial: str, request: JsonObject) -> JsonObject:
    from emufleet.errors import EmufleetError
    from emufleet.sim import control, daemon

    try:
        response = control.send_request(daemon.find_record(serial).control_port, request)
    except EmufleetError as exc:
        raise _fail(str(exc)) from exc
    if not response.get("ok"):
        raise _fail(str(response.get("error")))
    return response


@sim_app.command("fault")
def fault(
    serial: Annotated[str, typer.Argument(help="Instance serial, e.g. 127.0.0.1:16384.")],
    kind: Annotated[str, typer.Argument(help="drop, refuse, silent, reboot, black_screen, corrupt_screen, "
                                             "latency, crash, frozen, stuck_app, popup_storm, anr, "
                                             "refused_account — or "
                                             "clear [KIND].")],
    options: Annotated[list[str] | None, typer.Argument(help="key=value options, e.g. screencap_ms=80.")] = None,
) -> None:
    """Inject (or clear) a fault on a running simulator's instance."""
    from emufleet.errors import SimulatorError
    from emufleet.sim.control import parse_options

    items = options or []
    if kind == "clear":
        request: JsonObject = {"op": "clear", "serial": serial, "kind": items[0] if items else None}
    else:
        try:
            request = {"op": "fault", "serial": serial, "kind": kind, "options": parse_options(items)}
        except SimulatorError as exc:
            raise _fail(str(exc)) from exc
    response = _request(serial, request)
    typer.echo(f"{serial}: faults now {json.dumps(response['faults'])}")


@sim_app.command("state")
def state(
    serial: Annotated[str, typer.Argument(help="Instance serial.")],
    name: Annotated[str | None, typer.Argument(help="Show this scenario state now.")] = None,
) -> None:
    """Print (or set) an instance's scenario state."""
    typer.echo(_request(serial, {"op": "state", "serial": serial, "name": name})["state"])


@sim_app.command("events")
def events(
    serial: Annotated[str, typer.Argument(help="Instance serial.")],
    n: Annotated[int | None, typer.Option("-n", min=1, max=MAX_COUNT, help="Only the last N events.")] = None,
) -> None:
    """Print an instance's event log as JSON lines."""
    for event in _request(serial, {"op": "events", "serial": serial, "n": n})["events"]:
        typer.echo(json.dumps(event))


@sim_app.command("status")
def status() -> None:
    """Show running simulators: per instance its state, boot, app and faults."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.errors import EmufleetError
    from emufleet.sim import control, daemon

    records = daemon.read_records()
    if not records:
        typer.echo("no simulator is running")
        return
    table = Table("serial", "state", "booted", "app", "faults", "connections", title="simulated instances")
    for record in records:
        try:
            info = control.send_request(record.control_port, {"op": "status"})["simulator"]
        except EmufleetError as exc:
            typer.echo(f"pid {record.pid}: {exc}")
            continue
        for inst in info["instances"]:
            faults = json.dumps(inst["faults"]) if inst["faults"] else "-"
            table.add_row(inst["serial"], inst["state"], "yes" if inst["booted"] else "no",
                          "running" if inst["app_running"] else "-", faults, str(inst["connections"]))
        typer.echo(f"pid {record.pid}: scenario {info['scenario']!r}, base port {record.base_port}")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add the ``sim`` command group."""
    app.add_typer(sim_app, name="sim")
