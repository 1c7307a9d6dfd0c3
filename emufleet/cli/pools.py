"""``emufleet pools``: list, test, refresh and inspect the pool definitions in ``pools/`` (digest §5)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import MAX_COUNT, UrlOption
from emufleet.cli._common import engine as _engine
from emufleet.cli._common import fail as _fail

if TYPE_CHECKING:  # imported lazily at run time: `emufleet --help` stays fast
    from emufleet.pools import Pool

__all__ = ["register"]

pools_app = typer.Typer(help="Account pools (pools/*.yaml).", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="pool_name, file stem, or path to a pool YAML file.")]


def _pool(name: str, url: str | None) -> Pool:
    import getpass
    import os
    import socket

    from emufleet.errors import PoolValidationError
    from emufleet.pools import LeaseOwner, Pool, find_pool

    try:
        definition = find_pool(name)
    except PoolValidationError as exc:
        raise _fail(exc) from exc
    eng = _engine(url)
    owner = LeaseOwner(f"cli:{getpass.getuser()}@{socket.gethostname()}:{os.getpid()}")
    return Pool(definition, eng, owner)


@pools_app.command("list")
def list_(url: UrlOption = None) -> None:
    """Every pool file with its name, sources and when it was last refreshed, or its error."""
    from rich.console import Console
    from rich.table import Table

    from emufleet.pools import discover, last_refreshed, refreshed_ago

    entries = discover()
    eng = _engine(url)
    table = Table("file", "pool_name", "queries", "include", "exclude", "watched", "sort_method", "refresh s",
                  "last refresh")
    for column in table.columns:  # wrap long names instead of cutting them
        column.overflow = "fold"
    for e in entries:
        d = e.definition
        if d is None:
            table.add_row(e.path.name, f"[red]{e.error}[/red]", "", "", "", "", "", "", "")
            continue
        table.add_row(e.path.name, d.name, str(len(d.queries)), str(len(d.include)), str(len(d.exclude)),
                      str(len(d.watched_paths)), d.config.sort_method or "-", f"{d.config.refresh_interval:g}",
                      refreshed_ago(last_refreshed(eng, d.name)))
    Console().print(table if entries else "no pools (pools/*.yaml)")
    if any(e.error for e in entries):
        raise typer.Exit(1)


def _warn(missing_include: Iterable[str], file_errors: Iterable[str]) -> None:
    """What resolving a pool could not use: included names not in the database, unreadable account files."""
    for missing in missing_include:
        typer.secho(f"warning: included account {missing!r} is not in the database", fg="yellow", err=True)
    for err in file_errors:
        typer.secho(f"warning: {err}", fg="yellow", err=True)


@pools_app.command("test")
def test(name: NameArg, sample: Annotated[int, typer.Option(min=0, max=MAX_COUNT, help="How many names to show.")] = 10,
         url: UrlOption = None) -> None:
    """Resolve the pool without changing anything: count and a sample of accounts."""
    result = _pool(name, url).test(sample)
    typer.echo(f"{result.total} accounts")
    for device_account in result.sample:
        typer.echo(f"  {device_account}")
    _warn(result.missing_include, result.file_errors)


@pools_app.command("refresh")
def refresh(name: NameArg, url: UrlOption = None) -> None:
    """Resolve the pool, import its watched folders, and store its members."""
    from emufleet.pools import last_refreshed, refreshed_ago

    pool = _pool(name, url)
    before = refreshed_ago(last_refreshed(pool.engine, pool.name))
    report = pool.refresh()
    typer.echo(f"{report.members} members, {report.imported} imported from watched paths (last refreshed "
               f"before: {before})")
    _warn(report.missing_include, report.file_errors)


@pools_app.command("stats")
def stats(name: NameArg, url: UrlOption = None) -> None:
    """Members by state and the sums of reported results."""
    from emufleet.pools import refreshed_ago

    s = _pool(name, url).stats()
    typer.echo(f"total={s.total} available={s.available} in_use={s.in_use} completed={s.completed} "
               f"failed={s.failed} skipped={s.skipped}")
    typer.echo(f"results={s.results} packs_opened={s.packs_opened} cards_found={s.cards_found} "
               f"stars_total={s.stars_total} keep_count={s.keep_count} shinedust={s.shinedust} "
               f"last_refresh={s.last_refresh.isoformat(timespec='seconds') + 'Z' if s.last_refresh else 'never'}")
    typer.echo(f"last refreshed: {refreshed_ago(s.last_refresh)}")


@pools_app.command("save")
def save(file: Annotated[Path, typer.Argument(help="A pool YAML file to validate and store in pools/.")],
         overwrite: Annotated[bool, typer.Option(help="Replace the pool of the same pool_name.")] = False,
         replace: Annotated[str | None, typer.Option(help="Replace (and rename) this existing pool.")] = None,
         ) -> None:
    """Validate a pool file and store it in pools/ (as <pool_name>.yaml); relative watched paths are kept valid."""
    from emufleet.errors import PoolValidationError
    from emufleet.pools import PoolDefinition, save_pool, update_pool

    try:
        definition = PoolDefinition.load(file)
        saved = update_pool(replace, definition) if replace else save_pool(definition, overwrite=overwrite)
    except PoolValidationError as exc:
        raise _fail(exc) from exc
    typer.echo(f"saved {saved.file} (pool {saved.name!r})")


@pools_app.command("delete")
def delete(name: NameArg, force: Annotated[bool, typer.Option(help="Delete even while bots lease its accounts.")]
           = False, url: UrlOption = None) -> None:
    """Delete a pool file and its stored membership (refused while its accounts are leased, unless --force)."""
    from emufleet.errors import PoolError, PoolValidationError
    from emufleet.pools import delete_pool

    try:
        path = delete_pool(name, engine=_engine(url), force=force)
    except (PoolError, PoolValidationError) as exc:
        raise _fail(exc) from exc
    typer.echo(f"deleted {path}")


@pools_app.command("convert")
def convert(file: Annotated[Path, typer.Argument(help="A legacy pool file (type: sql / type: file / raw sql:).")],
            out: Annotated[Path | None, typer.Option(help="Write the unified pool here (default: stdout).")] = None,
            save: Annotated[bool, typer.Option(help="Store it in pools/ as <pool_name>.yaml.")] = False,
            partial: Annotated[bool, typer.Option(help="Write it even when something could not be expressed.")]
            = False) -> None:
    """Convert one of the seed's legacy pools to the unified format, or say exactly what cannot be expressed.

    Exit 0 when the conversion is exact (written to --out, pools/ with --save, else stdout); exit 1 with the list of
    what the unified format cannot express (file:line: what, and the SQL fragment), writing nothing unless
    --partial (a partial pool may hold more accounts than the original).
    """
    from emufleet.errors import NothingToConvert, PoolValidationError
    from emufleet.files import write_atomic
    from emufleet.pools import PoolDefinition, create_pool
    from emufleet.pools.convert import convert_pool_file

    try:
        conv = convert_pool_file(file)
    except NothingToConvert:
        try:
            PoolDefinition.load(file)
        except PoolValidationError as invalid:
            raise _fail(invalid) from invalid
        typer.echo(f"{file} is already a valid unified pool: nothing to convert")
        return
    except PoolValidationError as exc:
        raise _fail(exc) from exc
    for note in conv.notes:
        typer.secho(f"note: {note}", fg="cyan", err=True)
    for problem in conv.problems:
        typer.secho(f"cannot express: {problem}", fg="red", err=True)
    if conv.problems and not partial:
        typer.secho(f"{len(conv.problems)} thing(s) cannot be expressed in the unified format: nothing written "
                    "(--partial writes the rest, marked NOT EXPRESSED)", fg="red", err=True)
        raise typer.Exit(1)
    try:
        if save:
            saved = create_pool(conv.data)
            typer.echo(f"saved {saved.file} (pool {saved.name!r})")
        elif out is not None:
            write_atomic(out, conv.text)
            typer.echo(f"wrote {out}")
        else:
            typer.echo(conv.text, nl=False)
    except PoolValidationError as exc:
        raise _fail(exc) from exc
    if conv.problems:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``pools`` to the root command."""
    app.add_typer(pools_app, name="pools")
