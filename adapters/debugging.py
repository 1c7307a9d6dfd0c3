"""The step debugger's hold on an instance, taken as a bot takes it (issue 19 item 3, DESIGN "Instances are locked
through Prefect global concurrency limits").

A debugging session is a flow run of its own (flow ``emufleet-debug``, tag :data:`DEBUG_TAG`, the instance's tag),
created ``Running`` and ended ``Completed``: it claims the instance (:class:`emufleet.control.ClaimStore`) *then*
takes its ``instance:<host>:<serial>`` slot and renews the lease (:class:`adapters.keeper.LockKeeper`), exactly as a
bot does. Hence:

* the debugger never starts on an instance a launch holds: the slot is taken, :class:`InstanceConflictError`
  names the holder;
* a launch never takes an instance the debugger holds: its ``try_acquire`` is refused and its conflict handling
  skips a debugger whatever its ``on_conflict`` (``adapters.acquire``: a person is at work there);
* :func:`adapters.locks.reconcile` sees a live claimer and never resets the slot; a killed debugger's lease expires
  after ``LEASE_S`` like a killed bot's.

The debugger leases no account, so it returns nothing to any pool.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import FlowRunCreate
from prefect.client.schemas.objects import FlowRun
from prefect.states import Completed, Running, to_state_create

from adapters.keeper import LockKeeper
from adapters.locks import claim, holders, limit_name, release, try_acquire, unclaim
from emufleet.control import ClaimStore
from emufleet.errors import InstanceConflictError
from emufleet.hosts import InstanceId

__all__ = ["DEBUG_FLOW", "DEBUG_TAG", "debug_hold", "is_debugger"]

DEBUG_FLOW = "emufleet-debug"
DEBUG_TAG = "emufleet-debug"


def is_debugger(run: FlowRun) -> bool:
    """Whether ``run`` is a step debugger's session (a launch skips its instance whatever ``on_conflict`` says)."""
    return DEBUG_TAG in (run.tags or [])


@contextlib.asynccontextmanager
async def debug_hold(claims: ClaimStore, instance: InstanceId, *, routine: str) -> AsyncIterator[UUID]:
    """Hold ``instance`` for a debugging session of ``routine``: yields the session's flow run id.

    Raises:
        InstanceConflictError: another run (a launch's bot, another debugger) holds the instance.
        DatabaseError: the claims cannot be written.
    """
    async with get_client() as client:
        flow_id = await client.create_flow_from_name(DEBUG_FLOW)
        body = FlowRunCreate(flow_id=flow_id, name=f"debug {routine} on {instance.key}", parameters={},
                             tags=[DEBUG_TAG, limit_name(instance)], state=to_state_create(Running()))
        reply = await client.request("POST", "/flow_runs/", json=body.model_dump(mode="json", exclude_unset=True))
        run_id = FlowRun.model_validate(reply.json()).id
        keeper = LockKeeper()
        try:
            await claim(claims, run_id, instance)  # claim first: reconcile never frees a lock being taken
            lock = await try_acquire(client, instance, holder=run_id)
            if lock is None:
                others = await holders(client, claims, instance, exclude=[run_id])
                who = ", ".join(f"{r.name} ({r.id})" for r in others) or "a flow run that ended less than a minute ago"
                raise InstanceConflictError(f"instance {instance} is locked by {who}: the debugger never takes an "
                                            "instance a launch holds")
            keeper.add(lock)
            try:
                yield run_id
            finally:
                await keeper.close()
                await release(client, lock)
        finally:
            await unclaim(claims, run_id, instance)
            await client.set_flow_run_state(run_id, Completed(message="debugging session ended"), force=True)
