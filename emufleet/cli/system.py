"""``emufleet up`` / ``down`` / ``status``: the local system (database, Prefect server, adb server, emulator backend,
console, this host's worker) started in dependency order with readiness waits, stopped in reverse, and its health
(``system: Healthy|Degraded|Critical``, then one line per component; exit 0 only when Healthy)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import MAX_SECONDS, finite

if TYPE_CHECKING:
    from emufleet.system import StepResult

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``emufleet up``, ``down`` and ``status`` to the root app."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)


def _say(result: StepResult) -> None:
    mark = "ok " if result.ok else "ERR"
    typer.secho(f"[{result.seconds:5.1f} s] {mark} {result.name}: {result.message}",
                fg=None if result.ok else typer.colors.RED, err=not result.ok)


def up(
    instances: Annotated[int | None, typer.Option(min=1, max=32, help="simulated instances (default: as the last "
                                                                          "up, else 4)")] = None,
    base_port: Annotated[int | None, typer.Option(min=1024, max=65000, help="port of simulated instance 0 "
                                                                            "(default: as the last up, else 16384)")]
    = None,
    console_port: Annotated[int, typer.Option(min=1, max=65535, help="the console's port (another when taken)")]
    = 4300,
    console: Annotated[bool, typer.Option(help="start the fleet console")] = True,
    worker: Annotated[bool, typer.Option(help="start this host's Prefect worker")] = True,
    timeout: Annotated[float, typer.Option(min=1, max=MAX_SECONDS, callback=finite,
                                           help="seconds each component may take to become ready")] = 120.0,
) -> None:
    """Start the local system in dependency order, each part once the parts it needs are ready; then print its
    health and how long it took. What already runs is kept (a second `up` only checks)."""
    from emufleet.system import start_system, system_health
    from flows.system import local_components

    began = time.monotonic()
    parts = local_components(instances=instances, base_port=base_port, console_port=console_port, console=console,
                             worker=worker)
    results = start_system(parts, timeout_s=timeout, on_step=_say)
    took = time.monotonic() - began
    health = system_health(parts)
    for line in health.lines():
        typer.echo(line)
    word = "up" if all(r.ok for r in results) else "NOT up"
    typer.echo(f"emufleet up: system {word} in {took:.1f} s ({health.status.value})")
    if not health.healthy:
        raise typer.Exit(code=1)


def down() -> None:
    """Stop the local system in reverse dependency order (the database's data stays; a Prefect server named by
    PREFECT_API_URL is left running)."""
    from emufleet.system import stop_system
    from flows.system import local_components

    results = stop_system(local_components(), on_step=_say)
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)


def status(
    as_json: Annotated[bool, typer.Option("--json", help="the health model as JSON (what GET /api/system serves)")]
    = False,
) -> None:
    """Print the system health: `system: Healthy|Degraded|Critical`, then per component its state, uptime and
    issue. Exit 0 only when Healthy."""
    from emufleet.system import system_health
    from flows.system import local_components

    health = system_health(local_components())
    if as_json:
        typer.echo(json.dumps(health.to_json(), indent=2))
    else:
        for line in health.lines():
            typer.echo(line)
    if not health.healthy:
        raise typer.Exit(code=1)
