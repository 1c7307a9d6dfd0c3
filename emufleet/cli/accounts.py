"""``emufleet accounts``: import/export SharedPreferences XML, list, inject into and extract from a device (§7)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emufleet.cli._common import UrlOption
from emufleet.cli._common import engine as _engine
from emufleet.cli._common import fail as _fail

__all__ = ["register"]

accounts_app = typer.Typer(help="Game accounts: the database and the devices.", no_args_is_help=True)

SerialOption = Annotated[str, typer.Option("--serial", "-s", help="Device serial, e.g. 127.0.0.1:16384.")]


@accounts_app.command("import")
def import_(directory: Annotated[list[Path], typer.Argument(help="Folders (walked recursively) or XML files.")],
            url: UrlOption = None) -> None:
    """Import account XML files; known accounts get their password updated. Exit 1 if any file was bad."""
    from emufleet.accounts import import_paths

    missing = [str(p) for p in directory if not p.exists()]
    if missing:
        raise _fail(f"no such file or folder: {', '.join(missing)}")
    report = import_paths(_engine(url), directory)
    for err in report.errors:
        typer.secho(f"error: {err}", fg="red", err=True)
    typer.echo(f"{len(report.ids)} accounts: {report.created} new, {report.updated} updated, "
               f"{report.unchanged} unchanged, {len(report.errors)} bad files")
    if report.errors:
        raise typer.Exit(1)


@accounts_app.command("export")
def export(directory: Annotated[str, typer.Argument(help="The folder to write into (created if missing).")],
           status: Annotated[str | None, typer.Option(help="Only this pool_status.")] = None,
           url: UrlOption = None) -> None:
    """Write one SharedPreferences XML file per account into DIRECTORY (one distinct file per account)."""
    from emufleet.accounts import export_accounts

    try:
        paths = export_accounts(_engine(url), directory, status=status)
    except OSError as exc:
        raise _fail(f"cannot write {exc.filename or directory}: {exc.strerror or exc}") from None
    typer.echo(f"{len(paths)} accounts written to {directory}")


@accounts_app.command("list")
def list_(status: Annotated[str | None, typer.Option(help="Only this pool_status.")] = None,
          url: UrlOption = None) -> None:
    """List accounts: id, name, status, packs, failures, lease holder."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.accounts import list_accounts
    from emufleet.db import POOL_STATUSES, utcnow

    if status is not None and status not in POOL_STATUSES:
        raise _fail(f"--status must be one of {', '.join(POOL_STATUSES)}")
    now = utcnow()
    table = Table("id", "device_account", "status", "packs", "failures", "last_error", "lease")
    for column in table.columns:  # wrap long names instead of cutting them
        column.overflow = "fold"
    rows = list_accounts(_engine(url), status=status)
    for acc in rows:
        lease = ""
        if acc.lease_token and acc.lease_expires_at:
            left = (acc.lease_expires_at - now).total_seconds()
            lease = f"{acc.lease_owner}/{acc.lease_instance} " + (f"{left:.0f} s left" if left > 0 else "expired")
        table.add_row(str(acc.id), acc.device_account, acc.pool_status, str(acc.packs_opened),
                      str(acc.failure_count), acc.last_error or "", lease)
    Console().print(table if rows else "no accounts")


@accounts_app.command("reset")
def reset(accounts: Annotated[list[str] | None, typer.Argument(help="Account ids or device_account names.")] = None,
          pool: Annotated[str | None, typer.Option(help="The accounts of this pool (members and results).")] = None,
          status: Annotated[str | None, typer.Option(help="Only accounts with this pool_status.")] = None,
          all_: Annotated[bool, typer.Option("--all", help="Every account in the database.")] = False,
          include_leased: Annotated[bool, typer.Option(help="Also accounts a running bot leases (ends the lease).")]
          = False, url: UrlOption = None) -> None:
    """Make accounts leasable again: status available, failures 0, error and completion cleared.

    Selectors combine (e.g. --pool demo --status failed); counters and result history are kept.
    """
    from emufleet.errors import EmufleetError
    from emufleet.pools import LeaseOwner, Pool, find_pool, last_refreshed, reset_accounts

    eng = _engine(url)
    try:
        name = None
        if pool is not None:
            definition = find_pool(pool)
            name = definition.name
            if last_refreshed(eng, name) is None:  # never resolved: learn its members first
                Pool(definition, eng, LeaseOwner("cli:accounts-reset")).refresh()
        report = reset_accounts(eng, pool=name, status=status, accounts=accounts or (), include_leased=include_leased,
                                everything=all_)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{report.reset} account(s) reset to available")
    if report.leased:
        typer.secho(f"{report.leased} account(s) skipped: leased by a running bot (--include-leased to reset them "
                    "too)", fg="yellow", err=True)


@accounts_app.command("inject")
def inject(account: Annotated[str, typer.Argument(help="Account id, device_account, or an XML file.")],
           serial: SerialOption, no_launch: Annotated[bool, typer.Option("--no-launch")] = False,
           url: UrlOption = None) -> None:
    """Install ACCOUNT on a device (force-stop, push, su cp, verify) and start the game."""
    from emufleet.accounts import AccountCredentials, find_account, inject, read_account_file
    from emufleet.device import connect
    from emufleet.errors import EmufleetError

    try:
        if Path(account).is_file():
            creds = read_account_file(account)
        else:
            row = find_account(_engine(url), account)
            if row is None:
                raise _fail(f"no account {account!r} in the database")
            creds = AccountCredentials(row.device_account, row.device_password)
        inject(connect(serial), creds, launch=not no_launch)
    except EmufleetError as exc:
        raise _fail(exc) from exc
    typer.echo(f"{creds.device_account} injected into {serial}")


@accounts_app.command("extract")
def extract(out: Annotated[Path, typer.Argument(help="Where to write the account XML.")],
            serial: SerialOption) -> None:
    """Copy the account installed on a device into OUT (SharedPreferences XML)."""
    from emufleet.accounts import extract, write_account_file
    from emufleet.device import connect
    from emufleet.errors import EmufleetError

    try:
        creds = extract(connect(serial))
    except EmufleetError as exc:
        raise _fail(exc) from exc
    write_account_file(out, creds)
    typer.echo(f"{creds.device_account} extracted from {serial} to {out}")


def register(app: typer.Typer) -> None:
    """Add ``accounts`` to the root command."""
    app.add_typer(accounts_app, name="accounts")
