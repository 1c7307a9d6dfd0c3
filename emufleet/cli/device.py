"""``emufleet devices``: what the adb server sees (screen size and foreground app per online device), and
``emufleet devices screenshot SERIAL FILE`` (a PNG for ``emufleet templates match``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emufleet.cli._common import MAX_SECONDS, finite

__all__ = ["register"]


devices_app = typer.Typer(help="Devices the adb server sees; screenshots.", invoke_without_command=True)


@devices_app.callback()
def devices(
    ctx: typer.Context,
    connect: Annotated[list[str] | None, typer.Option(
        "--connect", "-c", help="adb connect these HOST:PORT serials first (repeatable).")] = None,
    timeout_s: Annotated[float, typer.Option("--timeout", min=0.0, max=MAX_SECONDS, callback=finite,
        help="Seconds per connect and per query.")] = 10.0,
    sims: Annotated[bool, typer.Option(help="adb connect the instances of running simulators first.")] = True,
) -> None:
    """List devices known to the adb server: serial, state, screen size, foreground app.

    The instances of simulators running on this machine (``emufleet sim up``, or started by a launch) are
    connected first, so they show without ``--connect``.
    """
    if ctx.invoked_subcommand is not None:
        return
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


@devices_app.command("screenshot")
def screenshot(
    serial: Annotated[str, typer.Argument(help="Device serial, e.g. 127.0.0.1:16384.")],
    file: Annotated[Path, typer.Argument(help="PNG file to write (device pixels, e.g. 540×960).")],
    timeout_s: Annotated[float, typer.Option("--timeout", min=0.0, max=MAX_SECONDS, callback=finite,
        help="Seconds for connect and capture.")] = 10.0,
) -> None:
    """Capture the device's screen into FILE (PNG), e.g. for ``emufleet templates match FILE``."""
    import cv2

    from emufleet.device import connect as connect_device
    from emufleet.errors import EmufleetError
    from emufleet.files import write_atomic

    try:
        frame = connect_device(serial, timeout_s=timeout_s).screenshot()
    except EmufleetError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    ok, png = cv2.imencode(".png", frame)
    if not ok:
        typer.secho("error: could not encode the frame as PNG", fg="red", err=True)
        raise typer.Exit(1)
    try:
        write_atomic(file, png.tobytes())
    except OSError as exc:
        typer.secho(f"error: cannot write {file}: {exc.strerror or exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    height, width = frame.shape[:2]
    typer.echo(f"{file}: {width}×{height} from {serial}")


def register(app: typer.Typer) -> None:
    """Add ``devices`` (list, and ``screenshot``) to the root command."""
    app.add_typer(devices_app, name="devices")
