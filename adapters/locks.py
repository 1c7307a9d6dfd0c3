"""Instance locks: one Prefect global concurrency limit of 1 per instance (host + serial), held through a lease.

Why Prefect and not our own table: the limit lives on the Prefect server, so two flow runs, even on two hosts,
can never drive one device (DESIGN "Instances are locked through Prefect global concurrency limits").

* Lock = a lease on one slot of the limit ``instance:<host>:<serial>`` (``increment-with-lease``). The holder renews it
  (:class:`LockKeeper`); a killed holder's lease expires after :data:`LEASE_S` seconds and the server's lease
  repossessor frees the slot.
* Claim = a row of ``instance_claims`` in emufleet's database (:class:`emufleet.control.ClaimStore`: one insert, one
  update; no read-modify-write of the run's tags), written *before* the slot is taken. It tells who holds an
  instance (``on_conflict: cancel``) and lets :func:`reconcile` tell a live lock from a slot leaked by a server
  restart (a restart forgets in-memory leases but not ``active_slots``: ``reference/prefect-notes.md``). Whether a
  claimer is alive is its flow run's state on the Prefect server.

The lease renewal and the engine's view of a lock are in :mod:`adapters.keeper`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists, PrefectHTTPStatusError

from emufleet import db
from emufleet.control import ClaimStore
from emufleet.errors import OrchestrationError
from emufleet.hosts import InstanceId

__all__ = ["LAUNCH_LIMIT", "LEASE_S", "LIMIT_PREFIX", "LIVE_STATES", "InstanceLock", "claim", "holders",
           "launch_guard", "limit_name", "reconcile", "release", "try_acquire", "unclaim"]

LIMIT_PREFIX = "instance:"
LEASE_S = 60.0  # the server's minimum; renewed every LEASE_S / 4
LIVE_STATES = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
_log = logging.getLogger(__name__)


def limit_name(instance: InstanceId) -> str:
    """The concurrency limit (and display tag) of an instance: ``instance:<host>:<serial>``.

    Not ``<host>/<serial>`` (:attr:`InstanceId.key`, used in labels, events and tables): Prefect refuses ``/`` in
    limit names. Host names never contain ``:``, so the name still splits back (:func:`_instance_of_limit`).
    """
    return f"{LIMIT_PREFIX}{instance.host}:{instance.serial}"


def _instance_of_limit(name: str) -> InstanceId | None:
    host, sep, serial = name.removeprefix(LIMIT_PREFIX).partition(":")
    try:
        return InstanceId(host, serial) if name.startswith(LIMIT_PREFIX) and sep else None
    except ValueError:  # not a limit of ours (a bad host name or serial)
        return None


@dataclass(frozen=True, slots=True)
class InstanceLock:
    """A held instance lock: the instance (host + serial) and the lease that occupies its limit's one slot."""

    instance: InstanceId
    lease_id: UUID

    @property
    def name(self) -> str:
        return limit_name(self.instance)


async def _ensure_limit(client: PrefectClient, name: str) -> None:
    try:
        await client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
    except ObjectAlreadyExists:
        pass


async def claim(claims: ClaimStore, flow_run_id: UUID, *instances: InstanceId, launch_id: UUID | None = None
                ) -> None:
    """Record that ``flow_run_id`` (of launch ``launch_id``) claims ``instances`` (before taking their slots), in
    one transaction.

    Raises:
        DatabaseError: the database cannot be reached.
    """
    await asyncio.to_thread(claims.claim, str(flow_run_id), instances,
                            launch_id=str(launch_id) if launch_id else None)


async def unclaim(claims: ClaimStore, flow_run_id: UUID, instance: InstanceId) -> None:
    """Release ``flow_run_id``'s claim on ``instance``."""
    await asyncio.to_thread(claims.unclaim, str(flow_run_id), instance)


async def try_acquire(client: PrefectClient, instance: InstanceId, *, holder: UUID | None) -> InstanceLock | None:
    """Take the instance's slot if it is free; ``None`` if another holder has it (HTTP 423). Never waits.

    ``holder`` (the flow run id) is recorded with the lease and should already carry the claim tag. One request
    when the limit exists (:func:`reconcile` creates a launch's missing ones beforehand); else the limit is created
    and the slot taken again.
    """
    name = limit_name(instance)
    for created in (False, True):
        try:
            reply = await client.increment_concurrency_slots_with_lease(
                names=[name], slots=1, mode="concurrency", lease_duration=LEASE_S,
                holder=ConcurrencyLeaseHolder(type="flow_run", id=holder) if holder else None,
            )
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 423:
                return None
            raise
        body = reply.json()
        lease_id = UUID(body["lease_id"])
        if body.get("limits"):
            return InstanceLock(instance=instance, lease_id=lease_id)
        # No such limit: the server leased nothing (a lease of no slot). Drop it, create the limit, take it again.
        await client.release_concurrency_slots_with_lease(lease_id)
        if not created:
            await _ensure_limit(client, name)
    raise OrchestrationError(f"the concurrency limit {name!r} disappeared while it was being taken")


async def release(client: PrefectClient, lock: InstanceLock) -> None:
    """Free the lock's slot (idempotent: an expired or already released lease is a no-op)."""
    await client.release_concurrency_slots_with_lease(lock.lease_id)


async def _claimer_runs(client: PrefectClient, ids: Iterable[str], *, live: bool) -> list[FlowRun]:
    wanted = [run_id for text in ids if (run_id := _uuid(text)) is not None]
    if not wanted:
        return []
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=LIVE_STATES)) if live else None
    return await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=wanted), state=state),
                                       sort=FlowRunSort.END_TIME_DESC, limit=len(wanted))


async def holders(client: PrefectClient, claims: ClaimStore, instance: InstanceId, *,
                  exclude: Iterable[UUID] = ()) -> list[FlowRun]:
    """Live (not final) flow runs claiming ``instance``, oldest first, except ``exclude``."""
    skip = {str(run_id) for run_id in exclude}
    ids = [i for i in await asyncio.to_thread(claims.claimers, instance) if i not in skip]
    return sorted(await _claimer_runs(client, ids, live=True), key=_created)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created(run: FlowRun) -> datetime:
    """When ``run`` was created (its expected start if the server left that out; the epoch if both are)."""
    return run.created or run.expected_start_time or _EPOCH


async def reconcile(client: PrefectClient, claims: ClaimStore, instances: Iterable[InstanceId] | None = None
                    ) -> list[InstanceId]:
    """Reset instance limits whose slot is taken although no live flow run claims the instance, and create the
    limits of ``instances`` that do not exist yet (so that taking them is one request).

    Call at launch start-up: a Prefect server restart leaks every slot held at that moment (in-memory leases
    are lost, ``active_slots`` is not), and a leaked slot would block its instance forever. A claim is written
    before a slot is taken, so a lock being acquired right now is never reset; a claimer that ended less than a
    lease ago is left to its lease's expiry. Returns the instances reset.
    """
    wanted = set(instances) if instances is not None else None
    limits = []
    offset = 0
    while True:
        page = await client.read_global_concurrency_limits(limit=200, offset=offset)
        limits.extend(page)
        if len(page) < 200:
            break
        offset += 200
    if wanted:
        known = {limit.name for limit in limits}
        await asyncio.gather(*(_ensure_limit(client, name) for name in sorted({limit_name(i) for i in wanted})
                               if name not in known))
    reset: list[InstanceId] = []
    for limit in limits:
        if not limit.name.startswith(LIMIT_PREFIX) or limit.active_slots <= 0:
            continue
        instance = _instance_of_limit(limit.name)
        if instance is None or (wanted is not None and instance not in wanted):
            continue
        if await holders(client, claims, instance) or await _recently_ended(client, claims, instance):
            continue
        await client.update_global_concurrency_limit(limit.name, GlobalConcurrencyLimitUpdate(active_slots=0))
        reset.append(instance)
    return reset


RECENT_S = LEASE_S + 15  # a claimer that ended this recently may still own an unexpired lease


async def _recently_ended(client: PrefectClient, claims: ClaimStore, instance: InstanceId) -> bool:
    # A claimer that ended less than a lease ago may still own an unexpired lease: resetting now would let the
    # lease's later expiry free the *next* holder's slot. Its lease expires by itself; leave it alone.
    since = db.utcnow() - timedelta(seconds=RECENT_S)
    runs = await _claimer_runs(client, await asyncio.to_thread(claims.claimers, instance, released_since=since),
                               live=False)
    if not runs or runs[0].end_time is None:
        return False
    return runs[0].end_time > datetime.now(UTC) - timedelta(seconds=RECENT_S)


LAUNCH_LIMIT = "emulator-launch"


def ensure_launch_limit() -> None:
    """Create the ``emulator-launch`` limit (1 slot) if missing (sync: called from a backend's worker thread)."""
    with get_client(sync_client=True) as client:
        try:
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=LAUNCH_LIMIT, limit=1))
        except ObjectAlreadyExists:
            pass


@contextlib.contextmanager
def launch_guard(index: int) -> Iterator[None]:
    """One emulator launch request at a time across every process and host (DESIGN: "plus one for emulator
    launches"; MuMuManager queues launches badly). A backend's ``launch_guard`` hook; ``index`` is informative."""
    from prefect.concurrency.sync import concurrency

    ensure_launch_limit()
    _log.info("instance %d: waiting for the emulator-launch slot", index)
    with concurrency(LAUNCH_LIMIT, occupy=1, timeout_seconds=600, strict=True):
        yield
