"""``emufleet console``: the fleet console (web pages, REST API, ``/health``, ``/ready``, ``/metrics``)."""

from __future__ import annotations

from typing import Annotated

import typer

from emufleet.cli._common import finite

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``emufleet console`` to the root app."""
    app.command("console")(console)


def console(
    host: Annotated[str, typer.Option(help="address to listen on (loopback by default; others need a token)")]
    = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0: any free port)")] = 4300,
    token: Annotated[str | None, typer.Option(envvar="EMUFLEET_CONSOLE_TOKEN", show_envvar=True,
                                              help="access token (required off loopback)")] = None,
    wait_for_server: Annotated[float, typer.Option(min=0, max=3600, callback=finite,
                                                   help="seconds the PREFECT_API_URL server may take to answer (one "
                                                        "being started)")]
    = 0.0,
) -> None:
    """Serve the fleet console beside the Prefect UI until Ctrl-C (starts the local Prefect server if none runs)."""
    import dataclasses
    import importlib

    from console import ConsoleConfig, free_console_port, serve
    from emufleet.errors import EmufleetError, InputError
    from flows.server import ensure_server, running_server, use_server

    pending = running_server() if wait_for_server else None
    if pending is not None:  # `emufleet up` starts the server meanwhile: do the slow imports while it starts
        use_server(pending)  # before Prefect is imported (it reads its settings then)
        for module in ("console.api", "console.ops", "console.pages"):  # what create_app imports
            importlib.import_module(module)

    try:
        config = ConsoleConfig(host=host, port=port or free_console_port(host, 0), token=token)
    except (InputError, OSError) as exc:  # a refused setting; the port cannot be bound
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc
    try:
        server = ensure_server(wait_s=wait_for_server)
    except EmufleetError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    use_server(server)
    config = dataclasses.replace(config, prefect_ui_url=server.ui_url)
    typer.echo(f"Fleet console: {config.url}" + (f"/login?token={token}" if token else "")
               + f"  (Prefect UI {server.ui_url})")
    serve(config)
