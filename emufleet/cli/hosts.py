"""``emufleet hosts``: the emulator hosts of the fleet (``hosts/*.yaml`` plus the implicit ``local``)."""

from __future__ import annotations

import typer

__all__ = ["register"]

hosts_app = typer.Typer(help="Emulator hosts: name, backend, the Prefect work queue that serves each.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``emufleet hosts …`` to the root app."""
    app.add_typer(hosts_app, name="hosts")


@hosts_app.command("list")
def list_hosts() -> None:
    """List the hosts (and the host files that do not load, with their located errors; exit 1 if any)."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.hosts import WORK_POOL, HostStore, this_host

    listing = HostStore().list()
    table = Table("host", "backend", f"work queue (pool {WORK_POOL})", "description")
    for host in listing.hosts.values():
        here = " (this host)" if host.name == this_host() else ""
        table.add_row(host.name + here, host.backend or "the group's", host.queue, host.description)
    Console().print(table)
    for error in listing.errors:
        typer.secho(str(error), fg=typer.colors.RED, err=True)
    if listing.errors:
        raise typer.Exit(code=1)
