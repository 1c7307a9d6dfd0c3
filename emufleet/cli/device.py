"""``emufleet devices``: what the adb server sees, with screen size and foreground app per online device."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def devices(
    connect: Annotated[list[str] | None, typer.Option(
        "--connect", "-c", help="adb connect these HOST:PORT serials first (repeatable).")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds per connect and per query.")] = 10.0,
    sims: Annotated[bool, typer.Option(help="adb connect the instances of running simulators first.")] = True,
) -> None:
    """List devices known to the adb server: serial, state, screen size, foreground app.

    The instances of simulators running on this machine (``emufleet sim up``, or started by a launch) are
    connected first, so they show without ``--connect``.
    """
    from rich.console import Console
    from rich.table import Table

    from emufleet.device import Device, list_devices
    from emufleet.errors import EmufleetError
    from emufleet.sim import daemon

    console = Console()
    try:
        for serial in connect or []:
            Device(serial, timeout_s=timeout_s).connect(timeout_s)
        known = {entry.serial for entry in list_devices()} if sims else set()
        for serial in (s for record in (daemon.read_records() if sims else []) for s in record.serials):
            if serial not in known:
                try:
                    Device(serial, timeout_s=timeout_s).connect(timeout_s)
                except EmufleetError as exc:  # a simulator going down meanwhile: list the others
                    console.print(f"[yellow]warning:[/yellow] simulated instance {serial}: {exc}")
        listing = list_devices()
    except EmufleetError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc

    table = Table("serial", "state", "screen", "foreground app", title="adb devices")
    for entry in listing:
        size = app = ""
        if entry.state == "device":
            dev = Device(entry.serial, timeout_s=timeout_s)
            try:
                width, height = dev.window_size()
                size = f"{width}x{height}"
                app = dev.foreground_app() or "-"
            except EmufleetError as exc:
                app = f"[red]{exc}[/red]"
        table.add_row(entry.serial, entry.state, size, app)
    console.print(table if listing else "no devices (start simulated ones with `emufleet sim up`, or use "
                                        "--connect HOST:PORT)")


def register(app: typer.Typer) -> None:
    """Add ``devices`` to the root command."""
    app.command("devices")(devices)
