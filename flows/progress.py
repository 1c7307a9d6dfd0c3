"""Terminal views of a running group: a live rich table of its bots, and the end-of-launch summary.

Both read only what any process can read (bot status labels through the Prefect API, the launch result), so
``emufleet groups launch``, ``emufleet groups show`` and ``emufleet demo`` render the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

from rich.console import Console
from rich.live import Live
from rich.table import Table

from adapters.logged import logged
from adapters.registry import bot_status
from emufleet.groups import BotState, BotStatus
from flows.control import status

if TYPE_CHECKING:  # launch_group is imported when a launch runs: the flow module is heavy
    from emufleet.groups import LaunchOverrides
    from flows.launch_group import LaunchResult
    from flows.server import PrefectServer

__all__ = ["bots_table", "run_launch", "summary_table", "watch"]
_log = logging.getLogger(__name__)

_STYLE = {BotState.RUNNING: "green", BotState.PAUSED: "yellow", BotState.RESTARTING: "magenta",
          BotState.FAILED: "red", BotState.STOPPED: "dim", BotState.COMPLETED: "cyan"}


def bots_table(group: str, bots: list[BotStatus]) -> Table:
    """One row per bot: instance, account, state, current step, restarts, accounts done/failed, steps."""
    table = Table(title=f"group {group}", expand=False)
    for column in ("bot", "instance", "account", "state", "step", "restarts", "done", "failed", "steps"):
        table.add_column(column, justify="right" if column in ("bot", "restarts", "done", "failed", "steps")
                         else "left")
    for bot in bots:
        table.add_row(str(bot.bot), bot.instance.key, bot.account or "-",
                      f"[{_STYLE.get(bot.state, 'white')}]{bot.state.value}[/]", bot.step or "-", str(bot.restarts),
                      str(bot.accounts_completed), str(bot.accounts_failed), str(bot.steps_done))
    return table


def summary_table(result: LaunchResult) -> Table:
    """The launch result (a :class:`flows.launch_group.LaunchResult`) as a table, steps per second per bot."""
    table = Table(title=f"group {result.group}: {result.launched}/{result.requested} bots")
    for column in ("bot", "instance", "state", "accounts completed", "failures", "restarts", "steps", "steps/s"):
        table.add_column(column)
    for row in result.bots:
        table.add_row(str(row.bot), row.instance.key, row.state.value, str(row.accounts_completed),
                      str(row.accounts_failed), str(row.restarts), str(row.steps_done), f"{row.steps_per_s:.2f}")
    return table


async def watch(group: str, until: asyncio.Future[Any], *, console: Console | None = None,
                on_tick: Callable[[list[BotStatus]], Awaitable[None] | None] | None = None,
                interval_s: float = 0.5, launch_run_id: UUID | None = None) -> None:
    """Show the bots of ``group`` every ``interval_s`` until ``until`` is done; ``on_tick`` sees each poll.

    With ``launch_run_id`` only that launch's bots are shown (not the finished bots of earlier launches of the
    group). On a terminal it is a live table, with log records of WARNING and above printed above it as one line
    each (the full records, tracebacks included, are in the Prefect UI); when the output is piped or redirected,
    one plain line per bot change (state, account, restarts, accounts done or failed) instead.
    """
    console = console or Console()
    live = Live(bots_table(group, []), console=console, refresh_per_second=4) if console.is_terminal else None
    lines = _ChangeLines(console)
    with _quiet_console_logs(console), live or contextlib.nullcontext():
        while not until.done():
            try:
                bots = await _bots(group, launch_run_id)
            except Exception as exc:  # noqa: BLE001 - a busy server: keep the last view (debug: it may last)
                _log.debug("group %r: bots not read, the view keeps its last state: %s: %s", group,
                           type(exc).__name__, exc)
                bots = None
            if bots is not None:
                if live is not None:
                    live.update(bots_table(group, bots))
                else:
                    lines.show(bots)
                if on_tick is not None:
                    outcome = on_tick(bots)
                    if asyncio.iscoroutine(outcome):
                        await outcome
            await asyncio.wait({until}, timeout=interval_s)
        with logged(_log, f"group {group!r}: reading the bots' final status for the progress table"):
            final = await _bots(group, launch_run_id)
            if live is not None:
                live.update(bots_table(group, final))
            else:
                lines.show(final)


async def _bots(group: str, launch_run_id: UUID | None) -> list[BotStatus]:
    if launch_run_id is None:
        return _latest(await status(group, live=False))
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[launch_run_id])),
            limit=200)
    return _latest([s for s in map(bot_status, runs) if s is not None])


def _latest(bots: list[BotStatus]) -> list[BotStatus]:
    """Bot runs of earlier launches share the group's tag: keep the newest run per bot index."""
    seen: dict[int, BotStatus] = {}
    for bot in bots:  # status() is newest first within each index after sorting by bot: keep the first seen
        seen.setdefault(bot.bot, bot)
    return [seen[k] for k in sorted(seen)]


class _ChangeLines:
    """Progress for a pipe or a log file: one line when a bot's state, account or counters change."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.seen: dict[int, tuple[object, ...]] = {}

    def show(self, bots: list[BotStatus]) -> None:
        for bot in bots:
            key = (bot.state, bot.account, bot.restarts, bot.accounts_completed, bot.accounts_failed)
            if self.seen.get(bot.bot) != key:
                self.seen[bot.bot] = key
                self.console.print(f"{time.strftime('%H:%M:%S')} bot {bot.bot} {bot.instance.key}: {bot.state.value}"
                                   f" account={bot.account or '-'} done={bot.accounts_completed} "
                                   f"failed={bot.accounts_failed} restarts={bot.restarts} steps={bot.steps_done}",
                                   highlight=False, soft_wrap=True)


class _OneLineHandler(logging.Handler):
    """Log records as one line above the live view: level, logger, message, and an exception's last line only."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("prefect.task_runs"):
            return  # a failed step: its bot logs the attempt's failure itself, once
        try:
            message = record.getMessage().strip().splitlines()
            text = message[0] if message else ""
            if record.exc_info and record.exc_info[1] is not None:
                exc = record.exc_info[1]
                text += f" ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
            self.console.print(f"[yellow]{record.levelname.lower()}[/] {text} [dim](details in the Prefect UI)[/]",
                               highlight=False, soft_wrap=True)
        except Exception:  # noqa: BLE001 - a log line must never break the launch
            self.handleError(record)


@contextlib.contextmanager
def _quiet_console_logs(console: Console) -> Iterator[None]:
    """While the bots are shown, Prefect's console handler (multi-line records, tracebacks that break the live
    table) is replaced by :class:`_OneLineHandler`; the API handler is untouched, so the UI keeps everything."""
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    replaced = [h for h in root.handlers if isinstance(h, PrefectConsoleHandler)]
    ours = _OneLineHandler(console)
    for handler in replaced:
        root.removeHandler(handler)
    root.addHandler(ours)
    try:
        yield
    finally:
        root.removeHandler(ours)
        for handler in replaced:
            root.addHandler(handler)


async def run_launch(group: str, overrides: LaunchOverrides | None = None, *, server: PrefectServer | None = None,
                     watch_bots: bool = True, console: Console | None = None,
                     on_tick: Callable[[list[BotStatus]], Awaitable[None] | None] | None = None
                     ) -> LaunchResult | None:
    """Run ``launch_group(group, overrides)`` in this process with a live view; print its UI link and summary.

    Returns the :class:`~flows.launch_group.LaunchResult`, or ``None`` when the launch failed before any bot
    (the reason is printed).
    """
    from prefect.client.orchestration import get_client

    from adapters.registry import launch_runs
    from flows.launch_group import LaunchResult, launch_group

    console = console or Console()
    async with get_client() as client:
        known = {r.id for r in await launch_runs(client, group, live=False, limit=200)}
    # a flow called in a running loop returns a coroutine (typed as an Awaitable): ensure_future makes it a Task
    task = asyncio.ensure_future(launch_group(group, overrides, return_state=True))
    launch_id = None
    async with get_client() as client:
        for _ in range(100):
            new = [r for r in await launch_runs(client, group, live=False, limit=20) if r.id not in known]
            if new or task.done():
                break
            await asyncio.sleep(0.1)
    if new:
        launch_id = new[0].id
        if server is not None:
            url = server.flow_run_url(launch_id)
            console.print(f"flow run: [link={url}]{url}[/link]")
    if watch_bots:
        await watch(group, task, console=console, on_tick=on_tick, launch_run_id=launch_id)
    state = await task
    result = await state.aresult(raise_on_failure=False)
    if not isinstance(result, LaunchResult):
        console.print(f"[red]launch failed:[/] {state.message}")
        return None
    console.print(summary_table(result))
    console.print(f"final state: {state.type.value}" + (f" — {state.message}" if state.message else ""))
    return result
