"""Stop, pause, resume and inspect a running group — from Python, the CLI, or a deployment (the UI).

Python (no flow run; what the CLI uses)::

    import asyncio
    from flows.control import stop, pause, resume, status
    asyncio.run(pause("demo", bot=2))           # bot 2 pauses at its next checkpoint (≤ 0.6 s)
    asyncio.run(resume("demo"))                 # the whole group
    bots = asyncio.run(status("demo"))          # list[BotStatus] of the live bots
    asyncio.run(restart("demo", "restart_app", bot=1))  # bot 1 restarts its game, same account, at its next tick

Flows (what the ``stop-group``, ``pause-group`` and ``resume-group`` deployments run): :func:`stop_group`,
:func:`pause_group`, :func:`resume_group`. The mechanisms are described in :mod:`adapters.registry`.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client

from adapters.registry import Desired, bot_runs, bot_status, launch_runs, request_cancel, write_command, write_desired
from adapters.studio import RECORD_COMMAND
from emufleet.bot.recovery import Rung
from emufleet.errors import OrchestrationError
from emufleet.groups import BotStatus

__all__ = ["pause", "pause_group", "record", "restart", "resume", "resume_group", "status", "stop", "stop_group"]


async def stop(group: str, *, bot: int | None = None) -> int:
    """Cancel the live runs of ``group`` (its launches and bots; or only bot ``bot``). Returns how many.

    Bots stop their running step, return their account and free their instance; launches end ``Cancelled``.
    """
    async with get_client() as client:
        bots = await bot_runs(client, group)
        targets = [r for r in bots if bot is None or _bot_index(r) == bot]
        if bot is None:
            targets += await launch_runs(client, group)
        for run in targets:
            await request_cancel(client, run.id, f"stopped: group {group!r}" + (f" bot {bot}" if bot is not None
                                                                               else ""))
        return len(targets)


async def _set_desired(group: str, desired: Desired, bot: int | None) -> int:
    async with get_client() as client:
        launches = await launch_runs(client, group)
        if not launches:
            raise OrchestrationError(f"group {group!r} is not running")
        if bot is not None and not any(_bot_index(r) == bot for r in await bot_runs(client, group)):
            raise OrchestrationError(f"group {group!r} has no live bot {bot}")
        for run in launches:
            await write_desired(client, run.id, desired, bot)
        return len(launches)


async def pause(group: str, *, bot: int | None = None) -> int:
    """Pause every bot of ``group`` (or bot ``bot``) at its next checkpoint; leases and locks keep being renewed.

    Returns the number of launch runs told. Raises ``OrchestrationError`` when the group (or bot) is not running.
    """
    return await _set_desired(group, "paused", bot)


async def resume(group: str, *, bot: int | None = None) -> int:
    """Resume bots paused by :func:`pause`. Same return value and errors."""
    return await _set_desired(group, "running", bot)


async def restart(group: str, rung: Rung | str, *, bot: int | None = None) -> int:
    """Ask the live bots of ``group`` (or bot ``bot``) to take recovery rung ``rung`` (``restart_app``: the game
    restarts with the same account on its lease; ``restart_instance``: the emulator instance restarts, then the
    game) through their own recovery ladder, within one watcher poll plus one supervisor tick (≈ 1 s). The routine
    resumes at its last checkpoint; no failure budget is spent. Returns the number of bots told.

    Raises:
        OrchestrationError: the group (or bot) is not running. ValueError: ``rung`` is not a rung.
    """
    return await _command(group, str(Rung(rung)), bot)


async def record(group: str, *, bot: int | None = None) -> int:
    """Ask the live bots of ``group`` (or bot ``bot``) to write their flight recorder's last ``record.seconds`` as
    a session now (``reason: operator``; docs/sessions.md), linked from each bot's flow run. Returns the number of
    bots told. Raises ``OrchestrationError`` when the group (or bot) is not running."""
    return await _command(group, RECORD_COMMAND, bot)


async def _command(group: str, command: str, bot: int | None) -> int:
    async with get_client() as client:
        launches = await launch_runs(client, group)
        if not launches:
            raise OrchestrationError(f"group {group!r} is not running")
        indices = sorted({i for i in (_bot_index(r) for r in await bot_runs(client, group)) if i is not None})
        targets = [b for b in indices if bot is None or b == bot]
        if not targets:
            raise OrchestrationError(f"group {group!r} has no live bot" + (f" {bot}" if bot is not None else ""))
        for run in launches:
            for index in targets:
                await write_command(client, run.id, index, command)
        return len(targets)


async def status(group: str, *, live: bool = True) -> list[BotStatus]:
    """The bots of ``group`` (live ones, or also the latest finished ones), sorted by bot index."""
    async with get_client() as client:
        runs = await bot_runs(client, group, live=live)
    found = [s for s in (bot_status(r) for r in runs) if s is not None]
    return sorted(found, key=lambda s: s.bot)


def _bot_index(run: object) -> int | None:
    value = (getattr(run, "labels", None) or {}).get("emufleet.bot")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


@flow(name="stop-group", flow_run_name="stop-{group}", persist_result=False)
async def stop_group(group: str, bot: int | None = None) -> int:
    """Stop a running group (or one of its bots): the flow behind the ``stop-group`` deployment."""
    count = await stop(group, bot=bot)
    get_run_logger().info("cancel requested for %d flow run(s) of group %r", count, group)
    return count


@flow(name="pause-group", flow_run_name="pause-{group}", persist_result=False)
async def pause_group(group: str, bot: int | None = None) -> int:
    """Pause a running group (or one of its bots): the flow behind the ``pause-group`` deployment."""
    return await pause(group, bot=bot)


@flow(name="resume-group", flow_run_name="resume-{group}", persist_result=False)
async def resume_group(group: str, bot: int | None = None) -> int:
    """Resume a paused group (or one of its bots): the flow behind the ``resume-group`` deployment."""
    return await resume(group, bot=bot)
