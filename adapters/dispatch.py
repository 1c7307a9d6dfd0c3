"""Bots on other hosts: a launch starts them on their host's Prefect worker through the ``run-bot`` deployment.

A host's devices are only reachable from that host (MuMu's ADB ports listen on its loopback), so a bot whose
instance is on another host runs there: ``run_deployment("run-bot/run-bot", work_queue_name=<host's queue>)`` on
the process work pool :data:`emufleet.hosts.WORK_POOL`, as a subflow of the launch (its page lists the bot with the
in-process ones). The launch has already taken the instance's lock (claim tag + lease, ``on_conflict`` applied as
for its own instances); it keeps renewing the lease until the remote bot's run is *Running*, then hands the lease
over: the remote bot renews it from then on (``BotSpec.lock_lease_id``) and frees it when it ends. The remote bot
follows its launch's cancellation and pause commands (``BotSpec.launch_run_id``) and writes the same status labels.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.deployments import arun_deployment
from prefect.states import Cancelled

from adapters.acquire import Acquirer
from adapters.locks import InstanceLock, limit_name, unclaim
from adapters.registry import BOT_TAG, bot_status, group_tag
from adapters.runtime import LaunchRuntime
from emufleet.bot import BotSpec
from emufleet.hosts import Host

__all__ = ["REMOTE_START_S", "RUN_BOT_DEPLOYMENT", "dispatch_remote_bot", "run_remote_bot", "started_at"]

RUN_BOT_DEPLOYMENT = "run-bot/run-bot"
REMOTE_START_S = 60.0  # a remote bot's run must be picked up by its host's worker within connect timeout + this
POLL_S = 1.0
_log = logging.getLogger(__name__)
_WAITING = {StateType.SCHEDULED, StateType.PENDING}


async def run_remote_bot(client: PrefectClient, spec: BotSpec, queue: str, *, tags: Iterable[str],
                         start_timeout_s: float, on_created: Callable[[], None], on_started: Callable[[], None],
                         launch_cancelled: Callable[[], bool]) -> FlowRun:
    """Start ``run-bot`` for ``spec`` on work queue ``queue`` and wait until its run is final; returns that run.

    ``on_created`` is called once the run exists on the server (*Scheduled*), ``on_started`` once, when the run
    leaves *Scheduled*/*Pending* (a worker picked it up: a new process, 10–20 s later on a busy host). A run no
    worker picked up within ``start_timeout_s`` seconds, or still waiting when the launch is cancelled, is
    cancelled (its state says why).

    Raises:
        prefect.exceptions.ObjectNotFound: the ``run-bot`` deployment does not exist (``prefect deploy`` it).
    """
    run = await arun_deployment(RUN_BOT_DEPLOYMENT, parameters={"spec": spec.model_dump(mode="json")},
                                work_queue_name=queue, tags=list(tags), as_subflow=True, timeout=0,
                                flow_run_name=f"{spec.group}-bot{spec.bot}")
    on_created()
    deadline = asyncio.get_running_loop().time() + start_timeout_s
    started = False
    while True:
        run = await client.read_flow_run(run.id)
        state = run.state
        if state is not None and state.is_final():
            return run
        waiting = state is None or state.type in _WAITING
        if waiting and (launch_cancelled() or asyncio.get_running_loop().time() > deadline):
            why = "launch stopped" if launch_cancelled() else f"no worker of queue {queue!r} started it " \
                                                              f"within {start_timeout_s:.0f} s"
            await client.set_flow_run_state(run.id, Cancelled(message=f"bot {spec.bot}: {why}"), force=True)
        elif not waiting and not started:  # a running remote bot follows its launch's cancellation by itself
            started = True
            on_started()
        await asyncio.sleep(POLL_S)


async def dispatch_remote_bot(client: PrefectClient, spec: BotSpec, host: Host, runtime: LaunchRuntime,
                              acquirer: Acquirer, lock: InstanceLock, on_created: Callable[[], None]) -> State:
    """A bot on another host: ``run-bot`` on its worker (:func:`run_remote_bot`); the lease is handed over once
    that run is *Running*. Returns its final state; its last status goes to ``acquirer.remote_status``."""

    def started() -> None:
        runtime.keeper.discard(lock.instance)  # the remote bot renews the lease from now on
        runtime.started[spec.bot].set()

    try:
        run = await run_remote_bot(client, spec, host.queue, tags=["emufleet", group_tag(spec.group),
                                                                   limit_name(spec.instance), BOT_TAG],
                                   start_timeout_s=spec.connect_timeout_s + REMOTE_START_S,
                                   on_created=on_created, on_started=started,
                                   launch_cancelled=lambda: runtime.launch_cancelled)
    finally:
        if not runtime.started[spec.bot].is_set():  # never picked up: free the lock the launch took for it
            runtime.started[spec.bot].set()
            await acquirer.drop(lock)
        else:
            try:  # the bot's own run claimed the instance once it ran: the launch's claim is no longer needed
                await unclaim(acquirer.claims, acquirer.run_id, spec.instance)
            except Exception as exc:  # noqa: BLE001 - a claim left is released at the launch's end
                _log.warning("bot %s: launch claim on %s not released: %s", spec.bot, spec.instance, exc)
    if (status := bot_status(run)) is not None:
        acquirer.remote_status[spec.bot] = status
    assert run.state is not None  # final (run_remote_bot returns only then)
    return run.state


async def started_at(event: asyncio.Event, task: asyncio.Task[State]) -> float:
    """The loop time at which ``event`` is set (the bot's flow run is running, or it is ready for its first step)
    or the bot already ended (``task``)."""
    waiter = asyncio.get_running_loop().create_task(event.wait())
    try:
        await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()
    return asyncio.get_running_loop().time()
