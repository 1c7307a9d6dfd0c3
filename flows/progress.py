"""Terminal views of a running group: a live rich table of its bots, and the end-of-launch summary.

Both read only what any process can read (bot status labels through the Prefect API, the launch result), so
``emufleet groups launch``, ``emufleet groups show`` and ``emufleet demo`` render the same thing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from emufleet.groups import BotState, BotStatus
from flows.control import status

__all__ = ["bots_table", "run_launch", "summary_table", "watch"]

_STYLE = {BotState.RUNNING: "green", BotState.PAUSED: "yellow", BotState.RESTARTING: "magenta",
          BotState.FAILED: "red", BotState.STOPPED: "dim", BotState.COMPLETED: "cyan"}


def bots_table(group: str, bots: list[BotStatus]) -> Table:
    """One row per bot: instance, account, state, current step, restarts, accounts done/failed, steps."""
    table = Table(title=f"group {group}", expand=False)
    for column in ("bot", "instance", "account", "state", "step", "restarts", "done", "failed", "steps"):
        table.add_column(column, justify="right" if column in ("bot", "restarts", "done", "failed", "steps")
                         else "left")
    for bot in bots:
        table.add_row(str(bot.bot), f"{bot.host}/{bot.instance}", bot.account or "-",
                      f"[{_STYLE.get(bot.state, 'white')}]{bot.state.value}[/]", bot.step or "-", str(bot.restarts),
                      str(bot.accounts_completed), str(bot.accounts_failed), str(bot.steps_done))
    return table


def summary_table(result: Any) -> Table:
    """The launch result (a :class:`flows.launch_group.LaunchResult`) as a table, steps per second per bot."""
    table = Table(title=f"group {result.group}: {result.launched}/{result.requested} bots")
    for column in ("bot", "instance", "state", "accounts completed", "failures", "restarts", "steps", "steps/s"):
        table.add_column(column)
    for row in result.bots:
        table.add_row(str(row.bot), row.instance, row.state, str(row.accounts_completed), str(row.accounts_failed),
                      str(row.restarts), str(row.steps), f"{row.steps_per_s:.2f}")
    return table


async def watch(group: str, until: asyncio.Future[Any], *, console: Console | None = None,
                on_tick: Callable[[list[BotStatus]], Awaitable[None] | None] | None = None,
                interval_s: float = 0.5) -> None:
    """Redraw the bots of ``group`` every ``interval_s`` until ``until`` is done; ``on_tick`` sees each poll."""
    console = console or Console()
    with Live(bots_table(group, []), console=console, refresh_per_second=4, transient=False) as live:
        while not until.done():
            try:
                bots = await status(group, live=False)
            except Exception:  # a busy server: keep the last table
                bots = None
            if bots is not None:
                current = _latest(bots)
                live.update(bots_table(group, current))
                if on_tick is not None:
                    outcome = on_tick(current)
                    if asyncio.iscoroutine(outcome):
                        await outcome
            await asyncio.wait({until}, timeout=interval_s)  # type: ignore[arg-type]
        with_final = _latest(await status(group, live=False))
        live.update(bots_table(group, with_final))


def _latest(bots: list[BotStatus]) -> list[BotStatus]:
    """Bot runs of earlier launches share the group's tag: keep the newest run per bot index."""
    seen: dict[int, BotStatus] = {}
    for bot in bots:  # status() is newest first within each index after sorting by bot: keep the first seen
        seen.setdefault(bot.bot, bot)
    return [seen[k] for k in sorted(seen)]


async def run_launch(group: str, overrides: Any = None, *, server: Any = None, watch_bots: bool = True,
                     console: Console | None = None,
                     on_tick: Callable[[list[BotStatus]], Awaitable[None] | None] | None = None) -> Any:
    """Run ``launch_group(group, overrides)`` in this process with a live table; print its UI link and summary.

    Returns the :class:`~flows.launch_group.LaunchResult`, or ``None`` when the launch failed before any bot
    (the reason is printed).
    """
    from prefect.client.orchestration import get_client

    from adapters.registry import launch_runs
    from flows.launch_group import LaunchResult, launch_group

    console = console or Console()
    known: set[Any] = set()
    async with get_client() as client:
        known = {r.id for r in await launch_runs(client, group, live=False, limit=200)}
    task = asyncio.get_running_loop().create_task(launch_group(group, overrides, return_state=True))
    if server is not None:
        async with get_client() as client:
            for _ in range(100):
                new = [r for r in await launch_runs(client, group, live=False, limit=20) if r.id not in known]
                if new or task.done():
                    break
                await asyncio.sleep(0.1)
        if new:
            console.print(f"flow run: [link={server.flow_run_url(new[0].id)}]{server.flow_run_url(new[0].id)}[/link]")
    if watch_bots:
        await watch(group, task, console=console, on_tick=on_tick)
    state = await task
    result = await state.aresult(raise_on_failure=False)
    if not isinstance(result, LaunchResult):
        console.print(f"[red]launch failed:[/] {state.message}")
        return None
    console.print(summary_table(result))
    console.print(f"final state: {state.type.value} — {state.message or ''}")
    return result
