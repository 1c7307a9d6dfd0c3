"""``emufleet devices``: what the adb server sees, with screen size and foreground app per online device."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def devices(
    connect: Annotated[list[str] | None, typer.Option(
        "--connect", "-c", help="adb connect these HOST:PORT serials first (repeatable).")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", help="Seconds per connect and per query.")] = 10.0,
) -> None:
    """List devices known to the adb server: serial, state, screen size, foreground app."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.device import Device, list_devices
    from emufleet.errors import EmufleetError

    console = Console()
    try:
        for serial in connect or []:
            Device(serial, timeout_s=timeout_s).connect(timeout_s)
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
    console.print(table if listing else "no devices (use --connect HOST:PORT)")


def register(app: typer.Typer) -> None:
    """Add ``devices`` to the root command."""
    app.command("devices")(devices)
