"""Stop, pause, resume, restart and inspect a running group — from Python, the CLI, the console or a deployment.

Python (no flow run; what the CLI and the console use)::

    import asyncio
    from flows.control import stop, pause, resume, restart, status
    asyncio.run(pause("demo", bot=2))           # bot 2 pauses at its next checkpoint (≤ 0.6 s)
    asyncio.run(resume("demo"))                 # the whole group
    bots = asyncio.run(status("demo"))          # list[BotStatus] of the live bots
    asyncio.run(restart("demo", "restart_app", bot=1))  # bot 1 restarts its game, same account, at its next tick

Every command is a row of emufleet's database (:class:`emufleet.control.CommandStore`): numbered per launch in the
order sent, taken once by each bot it is meant for, whoever sends it and however many send at once. Which launch
runs a group has is the Prefect server's answer (:mod:`adapters.registry`); ``stop`` also moves the runs to
``Cancelling``, as the UI's *Cancel* does.

Flows (what the ``stop-group``, ``pause-group`` and ``resume-group`` deployments run): :func:`stop_group`,
:func:`pause_group`, :func:`resume_group`.
"""

from __future__ import annotations

import asyncio
import logging

from prefect import flow, get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun

from adapters.registry import bot_runs, bot_status, launch_runs, request_cancel
from emufleet import db
from emufleet.control import Command, CommandKind, ControlPlane
from emufleet.errors import OrchestrationError
from emufleet.groups import BotStatus

__all__ = ["pause", "pause_group", "record", "restart", "resume", "resume_group", "send", "status", "stop",
           "stop_group"]

_RESTARTS = (CommandKind.RESTART_APP, CommandKind.RESTART_INSTANCE)
_log = logging.getLogger(__name__)


async def send(launches: list[FlowRun], kind: CommandKind, bot: int | None, *, source: str | None = None
               ) -> list[Command]:
    """Send command ``kind`` for bot ``bot`` (``None``: every bot) to each launch run of ``launches`` that takes
    commands; returns the commands stored (one per such launch).

    Raises:
        OrchestrationError: no launch of ``launches`` takes commands (all of them ended or have not opened their
            command channel yet).
        DatabaseError: the database cannot be reached.
    """

    def store() -> list[Command]:
        plane = ControlPlane(db.engine())
        sent: list[Command] = []
        refused: list[str] = []
        try:
            for run in launches:
                try:
                    sent.append(plane.commands.send(str(run.id), kind, bot=bot, source=source))
                except OrchestrationError as exc:  # ended between the server's answer and now, or still starting
                    refused.append(str(exc))
        finally:
            plane.dispose()
        if refused and not sent:
            raise OrchestrationError("; ".join(refused))
        return sent

    return await asyncio.to_thread(store)


async def _targets(group: str, bot: int | None) -> tuple[list[FlowRun], list[int]]:
    """The group's live launch runs and live bot indices (only ``bot`` when given).

    Raises:
        OrchestrationError: the group (or bot) is not running.
    """
    async with get_client() as client:
        launches = await launch_runs(client, group)
        if not launches:
            raise OrchestrationError(f"group {group!r} is not running")
        indices = sorted({i for i in (_bot_index(r) for r in await bot_runs(client, group)) if i is not None})
    bots = [b for b in indices if bot is None or b == bot]
    if bot is not None and not bots:
        raise OrchestrationError(f"group {group!r} has no live bot {bot}")
    return launches, bots


async def stop(group: str, *, bot: int | None = None, source: str | None = None) -> int:
    """Stop ``group`` (its launches and bots; or only bot ``bot``): a ``stop`` command to its launches, and its
    live runs moved to ``Cancelling``. Returns how many runs were cancelled.

    Bots stop their running step, return their account and free their instance; launches end ``Cancelled``.
    """
    async with get_client() as client:
        launches = await launch_runs(client, group)
        bots = await bot_runs(client, group)
        targets = [r for r in bots if bot is None or _bot_index(r) == bot]
        if bot is None:
            targets += launches
        if launches:
            try:
                await send(launches, CommandKind.STOP, bot, source=source)
            except OrchestrationError as exc:  # no channel (a launch still starting): its run's state stops it
                _log.info("group %r: stop command not stored (%s); cancelling its runs", group, exc)
        for run in targets:
            await request_cancel(client, run.id, f"stopped: group {group!r}" + (f" bot {bot}" if bot is not None
                                                                               else ""))
        return len(targets)


async def pause(group: str, *, bot: int | None = None, source: str | None = None) -> int:
    """Pause every bot of ``group`` (or bot ``bot``) at its next checkpoint; leases and locks keep being renewed.

    Returns the number of launch runs told. Raises ``OrchestrationError`` when the group (or bot) is not running.
    """
    launches, _ = await _targets(group, bot)
    return len(await send(launches, CommandKind.PAUSE, bot, source=source))


async def resume(group: str, *, bot: int | None = None, source: str | None = None) -> int:
    """Resume bots paused by :func:`pause`. Same return value and errors."""
    launches, _ = await _targets(group, bot)
    return len(await send(launches, CommandKind.RESUME, bot, source=source))


async def restart(group: str, rung: CommandKind | str, *, bot: int | None = None, source: str | None = None) -> int:
    """Ask the live bots of ``group`` (or bot ``bot``) to take recovery rung ``rung`` (``restart_app``: the game
    restarts with the same account on its lease; ``restart_instance``: the emulator instance restarts, then the
    game) through their own recovery ladder, within one watcher poll plus one supervisor tick (≈ 1 s). The routine
    resumes at its last checkpoint; no failure budget is spent. Returns the number of bots told.

    Raises:
        OrchestrationError: the group (or bot) is not running, or ``rung`` is not ``restart_app`` or
            ``restart_instance``.
    """
    kind = next((k for k in _RESTARTS if k.value == str(rung)), None)
    if kind is None:
        raise OrchestrationError(f"{rung!r} is not an operator restart (restart_app or restart_instance)")
    launches, bots = await _targets(group, bot)
    if not bots:
        raise OrchestrationError(f"group {group!r} has no live bot")
    await send(launches, kind, bot, source=source)
    return len(bots)


async def record(group: str, *, bot: int | None = None, source: str | None = None) -> int:
    """Ask the live bots of ``group`` (or bot ``bot``) to write their flight recorder's last ``record.seconds`` as
    a session now (``reason: operator``; docs/sessions.md), linked from each bot's flow run. Returns the number of
    bots told. Raises ``OrchestrationError`` when the group (or bot) is not running."""
    launches, bots = await _targets(group, bot)
    if not bots:
        raise OrchestrationError(f"group {group!r} has no live bot")
    await send(launches, CommandKind.RECORD, bot, source=source)
    return len(bots)


async def status(group: str, *, live: bool = True) -> list[BotStatus]:
    """The bots of ``group`` (live ones, or also the latest finished ones), sorted by bot index."""
    async with get_client() as client:
        runs = await bot_runs(client, group, live=live)
    found = [s for s in (bot_status(r) for r in runs) if s is not None]
    return sorted(found, key=lambda s: s.bot)


def _bot_index(run: FlowRun) -> int | None:
    value = (run.labels or {}).get("emufleet.bot")
    return int(value) if isinstance(value, (int, str)) and str(value).isdigit() else None


@flow(name="stop-group", flow_run_name="stop-{group}", persist_result=False)
async def stop_group(group: str, bot: int | None = None) -> int:
    """Stop a running group (or one of its bots): the flow behind the ``stop-group`` deployment."""
    count = await stop(group, bot=bot, source="deployment")
    get_run_logger().info("cancel requested for %d flow run(s) of group %r", count, group)
    return count


@flow(name="pause-group", flow_run_name="pause-{group}", persist_result=False)
async def pause_group(group: str, bot: int | None = None) -> int:
    """Pause a running group (or one of its bots): the flow behind the ``pause-group`` deployment."""
    return await pause(group, bot=bot, source="deployment")


@flow(name="resume-group", flow_run_name="resume-{group}", persist_result=False)
async def resume_group(group: str, bot: int | None = None) -> int:
    """Resume a paused group (or one of its bots): the flow behind the ``resume-group`` deployment."""
    return await resume(group, bot=bot, source="deployment")
