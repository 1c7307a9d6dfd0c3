"""Phase 3 of a launch: one bot subflow per acquired instance, started in order, running concurrently.

The scheduling (when each bot's flow run is created, how many at once, the start barrier of ``stagger: 0``) is
:func:`run_bots`'s docstring; a bot whose instance is on another host runs on that host's worker
(:func:`adapters.dispatch.dispatch_remote_bot`), still a subflow of the launch.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import State

from adapters.acquire import Acquirer
from adapters.dispatch import dispatch_remote_bot, started_at
from adapters.heal import Healer
from adapters.locks import unclaim
from adapters.registry import bot_tags, is_cancelled
from adapters.runtime import LaunchRuntime, current_runtime
from emufleet.bot import BotSpec
from emufleet.groups import GroupDefinition

__all__ = ["CREATE_TIMEOUT_S", "CREATE_WINDOW", "READY_TIMEOUT_S", "BotFlow", "run_bots"]

CREATE_WINDOW = 3  # bot flow runs being created at once
CREATE_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 10.0  # stagger 0: once every bot runs, how long the first ones wait for the last to be ready
BotFlow = Callable[[BotSpec], Awaitable[State]]
"""Runs one bot as a subflow and returns its final state (``lambda spec: run_bot(spec, return_state=True)``)."""
_log = logging.getLogger(__name__)


async def run_bots(client: PrefectClient, run_id: UUID, definition: GroupDefinition, runtime: LaunchRuntime,
                   acquirer: Acquirer, bot_flow: BotFlow, healer: Healer) -> list[State | None]:
    """Phase 3: one ``bot_flow`` (``run_bot``) subflow per acquired instance, running concurrently; returns their
    final states in bot order (``None`` for a bot not started because the launch was stopped). A local bot that
    failed may be followed by new bots on its instance (``healer``, :mod:`adapters.heal`): their states are in
    ``healer.bots``.

    ``stagger`` is measured between bots *starting* (seed ``000_…`` "Wait stagger delay"): the next bot's flow run
    is created once the previous one is running and ``stagger`` seconds have passed since it started, so the time
    a flow run takes to be created never eats into the gap (it did when the wait began at scheduling).

    With ``stagger`` 0 the bots start together: each connects its device as soon as its run is running, but
    holds its first step until every bot's run is running (at most :data:`CREATE_TIMEOUT_S`) and every bot is
    ready for its first step (at most :data:`READY_TIMEOUT_S` more; ``runtime.go``). Steps that ran meanwhile
    would compete with the remaining creations for the CPU and, on SQLite, for the Prefect server's one writer
    (their task runs are recorded as they go), which made the last bots of a 10-bot launch start seconds later;
    and nine bots' first steps slowed the last bot's device connect (docs/orchestration.md "Costs"). Bots on
    other hosts are not waited for: their worker starts each in a new process there, 10–20 s later, and they step
    as soon as they are ready.
    """
    launch = definition.launch
    loop = asyncio.get_running_loop()
    token = current_runtime().set(runtime)  # the bots' tasks copy the context: they find the runtime here
    started: list[asyncio.Task[State] | None] = []
    creating: set[asyncio.Task[float]] = set()
    running: list[asyncio.Task[float]] = []
    ready: list[asyncio.Task[float]] = []
    previous: asyncio.Task[float] | None = None  # resolves to the loop time the previous bot started
    if not launch.stagger:  # start barrier: see the docstring
        runtime.go.clear()
    try:
        for index, (instance, lock) in enumerate(acquirer.acquired):
            if previous is not None and launch.stagger:
                began = await previous
                await asyncio.sleep(max(0.0, began + launch.stagger - loop.time()))
            # Once a bot runs, the watcher polls the launch run twice a second: no need to ask again per bot.
            if runtime.launch_cancelled or (not runtime.watching and await is_cancelled(client, run_id)):
                await acquirer.drop(lock)
                started.append(None)
                continue
            # this host's load: wait for room, or shed this bot and the rest (adapters/resources.py)
            if (runtime.load is not None and instance not in acquirer.remote
                    and await runtime.load.admit(index, instance, lambda: runtime.launch_cancelled) is not None):
                await acquirer.drop(lock)
                started.append(None)
                continue
            backend, backend_options = acquirer.tasks.backend_of(definition, instance.host)
            spec = BotSpec(group=definition.name, bot=index, instance=instance, routine=definition.routine,
                           routine_config=definition.routine_config, pools=definition.pools,
                           restart_policy=launch.restart_policy, recovery=definition.recovery,
                           health=definition.health, record=definition.record, repeat=launch.repeat,
                           connect_timeout_s=launch.emulator_timeout, validate_templates=launch.validate_templates,
                           backend=backend, backend_options=backend_options,
                           instance_index=acquirer.indexes.get(instance), lock_lease_id=lock.lease_id,
                           instance_check=launch.instance_check, schedule=definition.schedule,
                           quarantine=definition.quarantine)
            # At most CREATE_WINDOW bots being created at once, even with stagger 0: a SQLite server takes one
            # write at a time, so a larger burst only queues there (10 at once measured no faster than 3).
            while len(creating) >= CREATE_WINDOW:
                await asyncio.wait(creating, timeout=CREATE_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
                creating = {w for w in creating if not w.done()}
            runtime.started[index] = asyncio.Event()
            runtime.ready[index] = asyncio.Event()
            host = acquirer.remote.get(instance)
            if host is not None:
                # Its run is created here and started by its host's worker, in a new process there: it leaves the
                # creation window once created, and the barrier (for this host's CPU and steps) does not wait for it.
                spec = spec.model_copy(update={"launch_run_id": run_id})
                created = asyncio.Event()
                task = loop.create_task(dispatch_remote_bot(client, spec, host, runtime, acquirer, lock,
                                                              created.set))
                creation = loop.create_task(started_at(created, task))
                previous = loop.create_task(started_at(runtime.started[index], task))
            else:
                with bot_tags(spec):
                    task = loop.create_task(_healing(acquirer, spec, bot_flow, healer))
                creation = previous = loop.create_task(started_at(runtime.started[index], task))
                running.append(previous)
                ready.append(loop.create_task(started_at(runtime.ready[index], task)))
            started.append(task)
            creating.add(creation)
            runtime.creating(creation)
        if not runtime.go.is_set() and running:
            await asyncio.wait(running, timeout=CREATE_TIMEOUT_S)
            await asyncio.wait(ready, timeout=READY_TIMEOUT_S)
        runtime.go.set()
        for waiter in (*creating, *ready):
            waiter.cancel()
        return list(await asyncio.gather(*(t if t is not None else _none() for t in started)))
    finally:
        runtime.go.set()
        current_runtime().reset(token)


async def _healing(acquirer: Acquirer, spec: BotSpec, bot_flow: BotFlow, healer: Healer) -> State:
    """Bot ``spec``, then the new bots the healer starts on its instance after it (or them) failed; returns the
    first bot's final state (the new bots' are in ``healer.bots``)."""
    first = state = await _bot(acquirer, spec, bot_flow, healer)
    while (new := await healer.replacement(spec, state)) is not None:
        with bot_tags(new):
            state = await _bot(acquirer, new, bot_flow, healer)
        healer.bots.append((new.bot, new.instance, state))
        spec = new
    return first


async def _bot(acquirer: Acquirer, spec: BotSpec, bot_flow: BotFlow, healer: Healer) -> State:
    healer.running(+1)
    try:
        return await bot_flow(spec)
    finally:
        healer.running(-1)
        try:  # the bot's own run claims the instance while it lives: the launch's claim is no longer needed
            await unclaim(acquirer.claims, acquirer.run_id, spec.instance)
        except Exception as exc:  # noqa: BLE001 - the bot's end stands; a claim left is released at the launch's end
            _log.warning("bot %s: launch claim on %s not released: %s", spec.bot, spec.instance, exc)


async def _none() -> None:
    return None
