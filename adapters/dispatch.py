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
from collections.abc import Callable, Iterable

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import arun_deployment
from prefect.states import Cancelled

from emufleet.bot import BotSpec

__all__ = ["RUN_BOT_DEPLOYMENT", "run_remote_bot"]

RUN_BOT_DEPLOYMENT = "run-bot/run-bot"
POLL_S = 1.0
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
