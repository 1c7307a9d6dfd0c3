"""``emufleet reload``: check the watched data folders now (what a running launch's watcher does on every change),
roll a file back to its last good version, or list its kept versions (docs/reload.md)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from emufleet.reload import Report

__all__ = ["register"]


def reload(
    rollback: Annotated[Path | None, typer.Option("--rollback", help="write this file's last good version back "
                                                  "(the one before it when it is the newest good one)")] = None,
    to: Annotated[str | None, typer.Option("--to", help="with --rollback: this version (a prefix of its hash)")]
    = None,
    history: Annotated[Path | None, typer.Option("--history", help="list this file's kept good versions")] = None,
) -> None:
    """Check routines/, templates/, groups/, pools/ and hosts/: print each file changed since its last good version
    (or reloaded by a running launch since the last `emufleet reload`) as reloaded (its new version) or rejected
    (file:line:col: field: message), record the good ones, exit 1 if any was rejected. Running launches watch the
    same files and take the good ones at their bots' next attempt."""
    import datetime as dt

    from emufleet.errors import InputError
    from emufleet.reload import Reloader

    if to is not None and rollback is None:
        raise typer.BadParameter("--to goes with --rollback", param_hint="--to")
    reloader = Reloader()
    try:
        if history is not None:
            key = reloader.key_of(history, "--history")
            for version in reversed(reloader.store.history(key)):
                when = dt.datetime.fromtimestamp(version.at).strftime("%Y-%m-%d %H:%M:%S")
                typer.echo(f"{version.version}  {when}  {version.size} bytes")
            return
        if rollback is not None:
            restored = reloader.rollback(rollback, to)
            typer.echo(f"rolled back {rollback} to {restored}")
    except InputError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from None
    report = reloader.check(since=reloader.store.last_check())
    reloader.store.mark_checked()
    for result in report.results:
        if result.errors:
            running = f"last good {result.previous} keeps running" if result.previous else "never valid"
            typer.echo(f"rejected {result.key} ({running})")
            for error in result.errors:
                typer.echo(f"  {error}")
        else:
            was = f" (was {result.previous})" if result.previous else " (new)"
            typer.echo(f"reloaded {result.key} {result.version}{was}")
    if not report.results:
        typer.echo("nothing changed")
    _events(report)
    if report.rejected:
        raise typer.Exit(1)


def _events(report: Report) -> None:
    """The same Prefect events a launch's watcher emits, when a Prefect server is configured."""
    import os

    if not os.environ.get("PREFECT_API_URL") or not report.results:
        return
    from adapters.reloading import emit_report

    emit_report(report)


def register(app: typer.Typer) -> None:
    """Add ``emufleet reload`` to the root app."""
    app.command("reload")(reload)
