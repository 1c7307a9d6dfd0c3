"""The per-process side of a launch: lock keeper, and the watcher that turns UI/CLI/API commands into controller calls.

One :class:`LaunchRuntime` serves a ``launch-group`` run and all its ``run-bot`` subflows (they share its event
loop); a ``run-bot`` called on its own makes its own. It is handed to the bots through a context variable, so
nothing here is a process-wide singleton.

The watcher polls the Prefect API every :data:`POLL_S` seconds with **one** ``read_flow_runs`` request for all
the bots of the process (plus one variable read for pause commands), so ten bots cost the server what one does:

* a bot run (or its launch run) in ``Cancelling``/``Cancelled`` → ``Controller.stop()`` (the step stops within
  100 ms, so cancellation lands within ≈ 0.6 s);
* the desired pause state (:func:`adapters.registry.read_desired`) → ``Controller.pause()``/``resume()``;
* a new operator command of a bot (``"commands"`` in the same variable) → the session's ``request_recovery``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError

from adapters.locks import LockKeeper
from adapters.registry import read_desired
from emufleet.bot.assets import EngineAssets
from emufleet.routines import Controller

__all__ = ["POLL_S", "BotHandle", "LaunchRuntime", "current_flow_run", "current_runtime"]

POLL_S = 0.5
BOT_THREADS = 64  # created on demand; a bot uses one at a time (plus its sentries' own threads)
T = TypeVar("T")
_STOP_STATES = [StateType.CANCELLING, StateType.CANCELLED]
_log = logging.getLogger(__name__)


@dataclass(eq=False)
class BotHandle:
    """What the watcher needs of one running bot."""

    bot: int
    flow_run_id: UUID
    controller: Controller
    cancelled: bool = False  # its run (or the launch run) was cancelled: end as Cancelled, not Failed
    paused: bool = False
    on_change: list[asyncio.Event] = field(default_factory=list)
    on_stop: Callable[[], None] | None = None  # the bot session's stop (wakes its waits); else the controller's
    on_recover: Callable[[str], None] | None = None  # the bot session's request_recovery (an operator's rung)
    command_seq: int = 0  # the newest operator command taken (adapters.registry.write_command)

    def stop(self) -> None:
        """The bot's run (or its launch's) was cancelled: stop the bot."""
        self.cancelled = True
        (self.on_stop or self.controller.stop)()
        self.notify()

    def notify(self) -> None:
        for event in self.on_change:
            event.set()


class LaunchRuntime:
    """Lock keeper, command watcher and shared engine assets of one launch run in this process.

    The launch's ``max_accounts`` budget is not here: it is a row of the shared database
    (:class:`emufleet.pools.AccountBudget`), found by ``launch_run_id`` by the bots of every host.
    """

    def __init__(self, launch_run_id: UUID | None, *, assets: EngineAssets | None = None,
                 poll_s: float = POLL_S) -> None:
        self.launch_run_id = launch_run_id
        self.poll_s = poll_s
        self.assets = assets  # template set + routine registry, loaded once per launch
        self.keeper = LockKeeper()
        # Blocking engine work (steps, device connect, database) runs here, not in asyncio's default executor:
        # that one has cpu+4 workers (6 on 2 cores), so ten bots' long steps would queue everything behind them,
        # Prefect's own thread hops included.
        self.executor = ThreadPoolExecutor(max_workers=BOT_THREADS, thread_name_prefix="emufleet-bot")
        self._memo: dict[Hashable, Any] = {}
        self._memo_lock = threading.Lock()
        self.started: dict[int, asyncio.Event] = {}  # bot index → set once its flow run is running
        self.ready: dict[int, asyncio.Event] = {}  # bot index → set once it waits to run its first step
        # Set once the bots may run their first step: at once, unless the launch holds them until every bot is
        # ready for it (stagger 0: see flows.launch_group._run_bots).
        self.go = asyncio.Event()
        self.go.set()
        self.bots: dict[UUID, BotHandle] = {}
        self.launch_cancelled = False
        # Status writes (labels, progress artifacts) of all the bots go one at a time, and wait while a bot's
        # flow run is being created (:meth:`creating`): on a SQLite server a label update reads
        # then writes, and fails at once (HTTP 503, client back-off of 2–30 s) when another write committed in
        # between — ten bots' label writes made each other, and the next bot's creation, back off.
        self._write_gate = asyncio.Lock()
        self._quiet = asyncio.Event()
        self._quiet.set()
        self._creations: set[asyncio.Future[Any]] = set()
        self._task: asyncio.Task[None] | None = None

    def arrive(self, bot: int) -> Callable[[], Awaitable[bool]]:
        """Bot ``bot``'s side of the start barrier (``BotSession(go=…)``): say it is ready, then wait for :attr:`go`."""

        async def go() -> bool:
            if (ready := self.ready.get(bot)) is not None:
                ready.set()
            return await self.go.wait()

        return go

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()`` once per launch for ``key`` (database engine, pool definitions), shared by its bots."""
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = make()
            # one cache for values of every type: the value under ``key`` is what this key's make() returned
            return cast(T, self._memo[key])

    @contextlib.asynccontextmanager
    async def status_write(self) -> AsyncIterator[None]:
        """Hold this around a bot's status write: one at a time per launch, none while a bot is being created."""
        await self._quiet.wait()
        async with self._write_gate:
            yield

    def creating(self, waiter: asyncio.Future[Any]) -> None:
        """Hold the bots' status writes until ``waiter`` (done once a bot's flow run is running) is done."""
        self._creations.add(waiter)
        self._quiet.clear()
        waiter.add_done_callback(self._created)

    def _created(self, waiter: asyncio.Future[Any]) -> None:
        self._creations.discard(waiter)
        if not self._creations:
            self._quiet.set()

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run blocking ``fn(*args)`` on the launch's bot threads (context variables copied)."""
        ctx = contextvars.copy_context()
        return await asyncio.get_running_loop().run_in_executor(self.executor, lambda: ctx.run(fn, *args))

    @property
    def watching(self) -> bool:
        """Whether the watcher polls the launch run's state (``launch_cancelled`` is then at most
        :data:`POLL_S` old)."""
        return self._task is not None and not self._task.done() and self.launch_run_id is not None

    def register(self, handle: BotHandle) -> None:
        """Watch ``handle`` (starts the watcher on first use)."""
        self.bots[handle.flow_run_id] = handle
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="emufleet-watcher")

    def unregister(self, handle: BotHandle) -> None:
        self.bots.pop(handle.flow_run_id, None)

    async def _watch(self) -> None:
        async with get_client() as client:
            while self.bots:
                try:
                    await self._poll(client)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a busy server (HTTP 503) must not kill the watcher
                    _log.warning("watcher poll failed: %s", exc)
                await asyncio.sleep(self.poll_s)

    async def _poll(self, client: PrefectClient) -> None:
        ids = list(self.bots)
        if self.launch_run_id is not None:
            ids.append(self.launch_run_id)
        # Only the runs being stopped come back: almost always none, so a poll costs the server (one core for the
        # whole fleet) a query and an empty answer, not the serialisation of every bot's run with its parameters.
        stopping = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids),
                                          state=FlowRunFilterState(type=FlowRunFilterStateType(any_=_STOP_STATES))),
            limit=len(ids))
        stopped = {run.id for run in stopping}
        if self.launch_run_id is not None and self.launch_run_id in stopped:
            self.launch_cancelled = True
        desired = await read_desired(client, self.launch_run_id) if self.launch_run_id else {}
        group_wants = desired.get("group", "running")
        per_bot = desired.get("bots", {})
        for run_id, handle in list(self.bots.items()):
            if self.launch_cancelled or run_id in stopped:
                if not handle.cancelled:
                    handle.stop()
                continue
            self._command(handle, desired.get("commands", {}).get(str(handle.bot)))
            want_paused = per_bot.get(str(handle.bot), group_wants) == "paused"
            if want_paused != handle.paused:
                handle.paused = want_paused
                (handle.controller.pause if want_paused else handle.controller.resume)()
                handle.notify()

    @staticmethod
    def _command(handle: BotHandle, command: Any) -> None:
        """Hand a bot's newest operator command to its session, once."""
        if not isinstance(command, dict) or handle.on_recover is None:
            return
        try:
            seq, rung = int(command.get("seq", 0)), str(command.get("rung"))
        except (TypeError, ValueError):
            return
        if seq <= handle.command_seq:
            return
        handle.command_seq = seq
        try:
            handle.on_recover(rung)
        except ValueError as exc:  # a rung this bot does not know: say so, keep watching
            _log.warning("bot %s: operator command %s ignored: %s", handle.bot, command, exc)

    async def close(self) -> None:
        """Stop watching and stop renewing locks (call after every bot has released its lock)."""
        self.bots.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.keeper.close()
        self.executor.shutdown(wait=False)


_RUNTIME: ContextVar[LaunchRuntime | None] = ContextVar("emufleet_launch_runtime", default=None)


def current_runtime() -> ContextVar[LaunchRuntime | None]:
    """The context variable through which ``launch_group`` hands its runtime to its ``run_bot`` subflows."""
    return _RUNTIME


def current_flow_run() -> FlowRun:
    """The flow run whose body is running (``launch_group``'s, a ``run_bot``'s).

    Raises:
        prefect.exceptions.MissingContextError: called outside a flow run.
    """
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        raise MissingContextError("no flow run is running here")
    return ctx.flow_run
