"""The per-process side of a launch: lock keeper, and the watcher that turns UI/CLI/API commands into controller calls.

One :class:`LaunchRuntime` serves a ``launch-group`` run and all its ``run-bot`` subflows (they share its event
loop); a ``run-bot`` called on its own makes its own. It is handed to the bots through a context variable, so
nothing here is a process-wide singleton.

The watcher polls every :data:`POLL_S` seconds with **one** ``read_flow_runs`` request to the Prefect API for all
the bots of the process, and one read of the launch's operator commands in emufleet's database
(:class:`emufleet.control.CommandStore`), so ten bots cost what one does:

* a bot run (or its launch run) in ``Cancelling``/``Cancelled`` → ``Controller.stop()`` (the step stops within
  100 ms, so cancellation lands within ≈ 0.6 s);
* the launch's commands not yet taken by a bot, in order, each taken once (its cursor moved by compare-and-set):
  ``pause``/``resume`` → ``Controller.pause()``/``resume()``; ``stop`` → as a cancelled run; ``restart_app``,
  ``restart_instance`` → the session's ``request_recovery``.
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
from typing import TYPE_CHECKING, Any, TypeVar, cast
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, FlowRunFilterState, FlowRunFilterStateType
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from sqlalchemy import Engine

from adapters.keeper import LockKeeper
from emufleet.bot.assets import EngineAssets
from emufleet.control import Command, CommandKind, ControlPlane
from emufleet.resources import CapturePacer
from emufleet.routines import Controller

if TYPE_CHECKING:
    from adapters.resources import LaunchLoad
    from emufleet.bot import AttemptBoundary
    from emufleet.pools import Pool

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
    command_seq: int | None = None  # the newest operator command taken (its cursor; None: not read yet)

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
    (:class:`emufleet.pools.AccountBudget`), found by ``launch_run_id`` by the bots of every host. ``control`` is
    the shared database's control plane (commands and instance claims); the runtime does not own it.
    """

    def __init__(self, launch_run_id: UUID | None, *, control: ControlPlane, assets: EngineAssets | None = None,
                 poll_s: float = POLL_S) -> None:
        self.launch_run_id = launch_run_id
        self.control = control
        self.poll_s = poll_s
        self.assets = assets  # template set + routine registry, loaded once per launch
        # the bots' attempt boundary (a launch's hot reload: newest routines, templates and group settings)
        self.on_attempt: Callable[[AttemptBoundary], Awaitable[None]] | None = None
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
        # The launch's host load (adapters.resources.LaunchLoad) while its bots run: its gate admits or sheds each
        # local bot, and in degraded mode the bots' captures slow down. None: a bot run alone or on another host.
        self.load: LaunchLoad | None = None

    def pacer(self) -> CapturePacer | None:
        """A new bot's capture pacer under the launch's host monitor (``None`` without a launch load)."""
        return CapturePacer(self.load.monitor) if self.load is not None else None

    def arrive(self, bot: int) -> Callable[[], Awaitable[bool]]:
        """Bot ``bot``'s side of the start barrier (``BotSession(go=…)``): say it is ready, then wait for :attr:`go`."""

        async def go() -> bool:
            if (ready := self.ready.get(bot)) is not None:
                ready.set()
            return await self.go.wait()

        return go

    def pools(self) -> list[Pool]:
        """The launch's pools its bots opened so far (:meth:`memo` ``("pool", name)``): what a hot reload of
        ``pools/`` redefines."""
        with self._memo_lock:
            return [v for k, v in self._memo.items() if isinstance(k, tuple) and k[:1] == ("pool",)]

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
        taken = await self._take_commands() if self.launch_run_id is not None else {}
        for run_id, handle in list(self.bots.items()):
            for command in taken.get(handle.bot, []):
                self._apply(handle, command)
            if (self.launch_cancelled or run_id in stopped) and not handle.cancelled:
                handle.stop()

    async def _take_commands(self) -> dict[int, list[Command]]:
        """Take the commands meant for this process's bots (one read when there are none; each bot's cursor moved
        by compare-and-set when there are: another taker of the same bot cannot take them twice)."""
        assert self.launch_run_id is not None
        launch, store = str(self.launch_run_id), self.control.commands
        handles = {h.bot: h for h in self.bots.values()}

        def take() -> dict[int, list[Command]]:
            for h in handles.values():
                if h.command_seq is None:
                    h.command_seq = store.cursor(launch, h.bot)
            fresh = store.since(launch, min((h.command_seq or 0) for h in handles.values()))
            out: dict[int, list[Command]] = {}
            for bot, h in handles.items():
                seen = h.command_seq or 0
                beyond = [c for c in fresh if c.seq > seen]
                if not beyond:
                    continue
                if store.advance(launch, bot, seen, beyond[-1].seq):
                    out[bot] = [c for c in beyond if c.is_for(bot)]
                    h.command_seq = beyond[-1].seq
                else:  # another taker moved this bot's cursor: go on from there
                    h.command_seq = store.cursor(launch, bot)
            return out

        return await asyncio.to_thread(take) if handles else {}

    def _apply(self, handle: BotHandle, command: Command) -> None:
        """Carry out one operator command on one bot."""
        kind = command.kind
        if kind is CommandKind.STOP:
            if command.bot is None:
                self.launch_cancelled = True
            if not handle.cancelled:
                handle.stop()
        elif kind in (CommandKind.PAUSE, CommandKind.RESUME):
            want_paused = kind is CommandKind.PAUSE
            if want_paused != handle.paused:
                handle.paused = want_paused
                (handle.controller.pause if want_paused else handle.controller.resume)()
                handle.notify()
        elif handle.on_recover is not None:  # restart_*: rungs of the bot's recovery ladder; record: its studio
            try:
                handle.on_recover(kind.value)
            except Exception as exc:  # noqa: BLE001 - one bot refusing a command must not stop the others' commands
                _log.warning("bot %s: operator command %s (%s) not taken: %s", handle.bot, command.seq, kind.value,
                             exc)

    async def close(self) -> None:
        """Stop watching and stop renewing locks (call after every bot has released its lock)."""
        self.bots.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.keeper.close()
        self.executor.shutdown(wait=False)
        # database engines the bots shared (accounts, the ledger, the farm): their pooled connections close now
        # instead of when they are collected (psycopg warns about a connection deleted while open)
        with self._memo_lock:
            engines = [value for value in self._memo.values() if isinstance(value, Engine)]
        for engine in engines:
            engine.dispose()


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
