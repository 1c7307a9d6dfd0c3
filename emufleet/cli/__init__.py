"""The ``emufleet`` command line: one typer app composed from one module per area.

Each area module exposes ``register(app: typer.Typer) -> None`` which adds its commands or sub-apps;
modules import their heavy dependencies (OpenCV, SQLAlchemy, Prefect) inside the command bodies so that
``emufleet --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="emufleet",
    help="Run fleets of Android game bots on emulators, orchestrated by Prefect.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Area modules, in help order. Each owns its own commands.
_AREAS = ("system", "sim", "device", "routines", "sessions", "templates", "vision", "db", "accounts", "pools",
          "groups", "instances", "automations", "console", "hosts", "server", "reload", "demo")

for _name in _AREAS:
    try:
        _module = importlib.import_module(f"emufleet.cli.{_name}")
    except ModuleNotFoundError as exc:  # an area not built yet must not break the others
        if exc.name != f"emufleet.cli.{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Console-script entry point. An emufleet error no command handled ends as one line and exit status 1,
    not a traceback (a bad file, a device gone, a database down are the user's to fix, not ours to debug)."""
    from emufleet import tracing
    from emufleet.errors import EmufleetError

    tracing.configure()  # OTEL_* variables: traces of what the command runs (routines run, groups launch)
    try:
        app()
    except EmufleetError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise SystemExit(1) from None


@app.command()
def version() -> None:
    """Print the emufleet version."""
    from emufleet import __version__

    typer.echo(__version__)
