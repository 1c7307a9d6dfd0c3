"""``emufleet automations apply``: the shipped Prefect automations (notifications, zombie clean-up) on the server.

Prefect is imported inside the command (``emufleet --help`` never loads it); the server is the one the other
Prefect commands use (``PREFECT_API_URL`` or the local one), never a new one.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

import typer

__all__ = ["register"]

automations_app = typer.Typer(help="Prefect automations shipped as code: notifications and zombie clean-up.",
                              no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``emufleet automations …`` to the root app."""
    app.add_typer(automations_app, name="automations")


def _duration(value: str, option: str) -> timedelta:
    from emufleet.durations import parse_duration
    from emufleet.errors import InputError

    try:
        return timedelta(seconds=parse_duration(value, "s"))
    except InputError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc


@automations_app.command("apply")
def apply(
    webhook: Annotated[str | None, typer.Option(
        "--webhook", help="a Discord-compatible webhook URL (any endpoint taking {\"content\": …}); stored in the "
                          "Prefect Webhook block 'emufleet-webhook'")] = None,
    block: Annotated[str | None, typer.Option(
        "--block", help="an existing Prefect notification or webhook block: <block-type-slug>/<name> or <name>")]
    = None,
    stall_after: Annotated[str, typer.Option("--stall-after", help="no step completed for this long → notify")]
    = "10m",
    zombie_after: Annotated[str | None, typer.Option(
        "--zombie-after", help="no flow-run heartbeat for this long → the run is Crashed (default: 3 heartbeats "
                               "of PREFECT_FLOWS_HEARTBEAT_FREQUENCY; 'off' to leave zombies alone)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the automations as JSON; change nothing")]
    = False,
) -> None:
    """Create or update (by name) the emufleet automations: bot gave up, bot run failed or crashed, bot made no
    progress, crash zombie runs. Without --webhook/--block the last saved 'emufleet-webhook' block is used, if any."""
    if webhook and block:
        raise typer.BadParameter("give --webhook or --block, not both", param_hint="--webhook/--block")
    if webhook and not webhook.startswith(("http://", "https://")):
        raise typer.BadParameter(f"not an http(s) URL: {webhook!r}", param_hint="--webhook")
    stall = _duration(stall_after, "--stall-after")
    import os

    from flows.server import HEARTBEAT_FREQUENCY_S

    # The heartbeat the zombie window is computed from: the one emufleet's own processes use (flows.server).
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_FREQUENCY_S))
    if dry_run:
        _print_dry_run(webhook, block, stall, zombie_after)
        return
    from emufleet.cli.groups import _connect, _fail
    from emufleet.errors import InputError

    _connect(start=False)
    try:
        done, notify = asyncio.run(_apply(webhook, block, stall, zombie_after))
    except InputError as exc:  # the --block named
        raise _fail(exc) from exc
    for name, what in done:
        typer.echo(f"{what:8} {name}")
    if notify is None:
        typer.secho("notifications not applied: give --webhook URL or --block NAME", fg=typer.colors.YELLOW, err=True)


def _zombie(value: str | None) -> timedelta | None:
    from adapters.automations import default_zombie_after

    if value is None:
        return default_zombie_after()
    return None if value == "off" else _duration(value, "--zombie-after")


async def _apply(webhook: str | None, block: str | None, stall: timedelta,
                 zombie_after: str | None) -> tuple[list[tuple[str, str]], object]:
    from prefect.client.orchestration import get_client

    from adapters.automations import (
        WEBHOOK_BLOCK,
        apply_automations,
        emufleet_automations,
        resolve_block,
        save_webhook_block,
    )
    from emufleet.errors import InputError

    async with get_client() as client:
        if webhook:
            notify = await save_webhook_block(webhook)
        elif block:
            notify = await resolve_block(client, block)
        else:
            try:
                notify = await resolve_block(client, f"webhook/{WEBHOOK_BLOCK}")
            except InputError:  # no saved emufleet-webhook block: the automations go without notifications
                notify = None
        automations = emufleet_automations(notify, stall_after=stall, zombie_after=_zombie(zombie_after))
        return await apply_automations(client, automations), notify


def _print_dry_run(webhook: str | None, block: str | None, stall: timedelta, zombie_after: str | None) -> None:
    from uuid import UUID

    from adapters.automations import WEBHOOK_BLOCK, Notify, emufleet_automations

    placeholder = UUID(int=0)  # the block's id is only known once it is saved or looked up
    notify = Notify(placeholder, "webhook") if webhook or not block else Notify(placeholder, "notification")
    if webhook:
        typer.echo(f"# would save the Webhook block {WEBHOOK_BLOCK!r} for {webhook}")
    for automation in emufleet_automations(notify, stall_after=stall, zombie_after=_zombie(zombie_after)):
        typer.echo(automation.model_dump_json(indent=2))


@automations_app.command("remove")
def remove() -> None:
    """Delete the emufleet automations (names starting with 'emufleet: '); the webhook block is kept."""
    from emufleet.cli.groups import _connect

    _connect(start=False)

    async def run() -> list[str]:
        from prefect.client.orchestration import get_client

        from adapters.automations import remove_automations

        async with get_client() as client:
            return await remove_automations(client)

    removed = asyncio.run(run())
    for name in removed:
        typer.echo(f"removed  {name}")
    if not removed:
        typer.echo("no emufleet automation on this server")
