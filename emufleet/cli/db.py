"""``emufleet db``: the database schema (Alembic migrations, digest §6)."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]

db_app = typer.Typer(help="The accounts database (SQLite file by default, PostgreSQL by EMUFLEET_DATABASE_URL).",
                     no_args_is_help=True)

UrlOption = Annotated[str | None, typer.Option("--url", help="SQLAlchemy URL (default: EMUFLEET_DATABASE_URL, "
                                                              "else var/emufleet.db).")]


@db_app.command("upgrade")
def upgrade(url: UrlOption = None) -> None:
    """Create or migrate the schema to the newest revision (idempotent)."""
    from emufleet import db, settings

    revision = db.upgrade(url)
    typer.echo(f"database {db.safe_url(url or settings.database_url())} at revision {revision}")


@db_app.command("current")
def current(url: UrlOption = None) -> None:
    """Print the schema revision of the database and the newest shipped one."""
    from emufleet import db

    eng = db.engine(url)
    try:
        typer.echo(f"current={db.current_revision(eng) or 'none'} head={db.head_revision()}")
    finally:
        eng.dispose()


def register(app: typer.Typer) -> None:
    """Add ``db`` to the root command."""
    app.add_typer(db_app, name="db")
