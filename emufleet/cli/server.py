"""``emufleet server``: the local Prefect server every emufleet command talks to (start, stop, status).

``start`` runs ``prefect server start`` in the background (:func:`flows.server.start_server`) and records it in
``<state>/prefect/server.json``, so ``emufleet groups …``, the demo and ``deployments/serve.py`` reuse it. With
``--postgres URL`` its database is that PostgreSQL database instead of the SQLite file under ``<state>/prefect``
(what several hosts and more than a handful of concurrent bots need: docs/orchestration.md "Several hosts").
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emufleet.cli._common import MAX_PORT, MAX_SECONDS, finite
from emufleet.errors import EmufleetError

__all__ = ["register"]

server_app = typer.Typer(help="The Prefect server (UI + API) emufleet's commands use.", no_args_is_help=True)

HomeOption = Annotated[Path | None, typer.Option("--home", help="PREFECT_HOME (default: <state>/prefect)")]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def register(app: typer.Typer) -> None:
    """Add ``emufleet server …`` to the root app."""
    app.add_typer(server_app, name="server")


@server_app.command("start")
def start(
    postgres: Annotated[str | None, typer.Option(
        "--postgres", help="PostgreSQL URL of the server's database (postgresql://user:password@host:5432/prefect); "
                           "default: SQLite under the home", envvar="EMUFLEET_PREFECT_DATABASE_URL")] = None,
    port: Annotated[int | None, typer.Option("--port", min=1, max=MAX_PORT,
        help="TCP port (default 4200 when free)")] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on; 0.0.0.0 lets other hosts' workers "
                                                     "reach it")] = "127.0.0.1",
    home: HomeOption = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.0, max=MAX_SECONDS, callback=finite,
        help="seconds to wait for /api/health")] = 90.0,
) -> None:
    """Start the Prefect server in the background (a running one is reported, not duplicated).

    With ``PREFECT_API_URL`` exported (as the docs say), a server answering there is reported; when nothing
    answers and the URL is on this machine's loopback, the server is started at that URL's port."""
    from flows.server import health_ok, local_address, running_server, start_server

    current = running_server(home)
    if current is not None and (current.pid is not None or health_ok(current.api_url)):
        who = f"pid {current.pid}" if current.pid is not None else "not started by emufleet: pid unknown"
        typer.echo(f"already running: {current.api_url} ({who}, database {current.database})")
        return
    if current is not None:  # PREFECT_API_URL is exported and nothing answers there
        address = local_address(current.api_url)
        if address is None:
            raise _fail(f"PREFECT_API_URL={current.api_url} does not answer, and it is not on this machine: start "
                        "that server there, or unset PREFECT_API_URL to start one here")
        if port is not None and port != address[1]:
            raise _fail(f"--port {port} differs from PREFECT_API_URL={current.api_url}; the other commands would "
                        "not find the server")
        port = address[1]
    try:
        server = start_server(home, port, timeout_s=timeout, database_url=postgres, host=host)
    except EmufleetError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"Prefect server {server.ui_url} (pid {server.pid}, database {server.database})\n"
               f"other processes: PREFECT_API_URL={server.api_url}")


@server_app.command("stop")
def stop(home: HomeOption = None) -> None:
    """Stop the server ``emufleet server start`` (or the demo, or a launch) started and recorded."""
    import dataclasses

    from flows.server import running_server, stop_server

    current = running_server(home)
    if current is None or current.pid is None:
        typer.secho("no recorded Prefect server is running" + (" (PREFECT_API_URL points at one emufleet did not "
                    "start)" if current is not None else ""), fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=1)
    stop_server(dataclasses.replace(current, owned=True))
    typer.echo(f"stopped the Prefect server {current.api_url} (pid {current.pid})")


@server_app.command("status")
def status(home: HomeOption = None) -> None:
    """Print the server emufleet's commands would use: URL, pid, database; exit 1 when there is none."""
    from flows.server import health_ok, running_server

    current = running_server(home)
    if current is None:
        typer.echo("no Prefect server (emufleet server start, or set PREFECT_API_URL)")
        raise typer.Exit(code=1)
    healthy = "healthy" if health_ok(current.api_url) else "NOT answering /health"
    typer.echo(f"{current.api_url} pid={current.pid or '-'} database={current.database} {healthy}")
