"""Instance locks: one Prefect global concurrency limit of 1 per instance (host + serial), held through a lease.

Why Prefect and not our own table: the limit lives on the Prefect server, so two flow runs, even on two hosts,
can never drive one device (DESIGN "Instances are locked through Prefect global concurrency limits").

* Lock = a lease on one slot of the limit ``instance:<host>:<serial>`` (``increment-with-lease``). The holder renews it
  (:class:`LockKeeper`); a killed holder's lease expires after :data:`LEASE_S` seconds and the server's lease
  repossessor frees the slot.
* Claim = the tag ``instance:<host>:<serial>`` on the holder's flow run, written *before* the slot is taken. It tells
  who holds an instance (``on_conflict: cancel``) and lets :func:`reconcile` tell a live lock from a slot leaked by a
  server restart (a restart forgets in-memory leases but not ``active_slots``: ``reference/prefect-notes.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import ConcurrencyLeaseHolder, FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound, PrefectHTTPStatusError

from emufleet.bot.fence import Fence
from emufleet.errors import OrchestrationError
from emufleet.hosts import InstanceId

__all__ = ["FENCE_MARGIN_S", "LAUNCH_LIMIT", "LEASE_S", "LIMIT_PREFIX", "LIVE_STATES", "BotLease", "InstanceLock",
           "LockKeeper", "claim", "holders",
           "launch_guard", "limit_name", "reconcile", "release", "try_acquire", "unclaim"]

LIMIT_PREFIX = "instance:"
LEASE_S = 60.0  # the server's minimum; renewed every LEASE_S / 4
LIVE_STATES = [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING]
_log = logging.getLogger(__name__)


def limit_name(instance: InstanceId) -> str:
    """The concurrency limit (and claim tag) of an instance: ``instance:<host>:<serial>``.

    Not ``<host>/<serial>`` (:attr:`InstanceId.key`, used in labels, events and tables): Prefect refuses ``/`` in
    limit names. Host names never contain ``:``, so the name still splits back (:func:`_instance_of_limit`).
    """
    return f"{LIMIT_PREFIX}{instance.host}:{instance.serial}"


def _instance_of_limit(name: str) -> InstanceId | None:
    host, sep, serial = name.removeprefix(LIMIT_PREFIX).partition(":")
    try:
        return InstanceId(host, serial) if name.startswith(LIMIT_PREFIX) and sep else None
    except ValueError:
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


async def claim(client: PrefectClient, flow_run_id: UUID, *instances: InstanceId) -> None:
    """Tag ``flow_run_id`` with the claim tags of ``instances`` (before taking their slots), in one write."""
    run = await client.read_flow_run(flow_run_id)
    tags = [tag for tag in dict.fromkeys(map(limit_name, instances)) if tag not in run.tags]
    if tags:
        await client.update_flow_run(flow_run_id, tags=[*run.tags, *tags])


async def unclaim(client: PrefectClient, flow_run_id: UUID, instance: InstanceId) -> None:
    """Remove the instance's claim tag from ``flow_run_id``."""
    run = await client.read_flow_run(flow_run_id)
    tag = limit_name(instance)
    if tag in run.tags:
        await client.update_flow_run(flow_run_id, tags=[t for t in run.tags if t != tag])


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


async def holders(client: PrefectClient, instance: InstanceId, *, exclude: Iterable[UUID] = ()) -> list[FlowRun]:
    """Live (not final) flow runs claiming ``instance``, oldest first, except ``exclude``."""
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            tags=FlowRunFilterTags(all_=[limit_name(instance)]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=LIVE_STATES)),
        ),
        limit=50,
    )
    skip = set(exclude)
    return sorted((r for r in runs if r.id not in skip), key=_created)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _created(run: FlowRun) -> datetime:
    """When ``run`` was created (its expected start if the server left that out; the epoch if both are)."""
    return run.created or run.expected_start_time or _EPOCH


async def reconcile(client: PrefectClient, instances: Iterable[InstanceId] | None = None) -> list[InstanceId]:
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
        if await holders(client, instance) or await _recently_ended(client, instance):
            continue
        await client.update_global_concurrency_limit(limit.name, GlobalConcurrencyLimitUpdate(active_slots=0))
        reset.append(instance)
    return reset


async def _recently_ended(client: PrefectClient, instance: InstanceId) -> bool:
    # A claimer that ended less than a lease ago may still own an unexpired lease: resetting now would let the
    # lease's later expiry free the *next* holder's slot. Its lease expires by itself; leave it alone.
    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[limit_name(instance)])),
        sort=FlowRunSort.END_TIME_DESC, limit=1,
    )
    if not runs or runs[0].end_time is None:
        return False
    return runs[0].end_time > datetime.now(UTC) - timedelta(seconds=LEASE_S + 15)


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


#: Input stops this long before a lock's lease could expire on the server (renewals go every LEASE_S / 4).
FENCE_MARGIN_S = LEASE_S / 4


class LockKeeper:
    """Renews the leases of every lock of this process until they are released (one asyncio task), and keeps
    each lock's :class:`~emufleet.bot.fence.Fence` (docs/supervision.md "Fencing").

    A lock keeps being renewed while its bot runs, pauses or waits for a restart, and only stops when
    :meth:`discard` is called (after release). Each successful renewal reopens the fence until ``sent +
    LEASE_S − FENCE_MARGIN_S``; a renewal refused because the lease is gone (it expired during an outage, or the
    server restarted and forgot it) revokes the fence at once, so the bot stops sending input and re-acquires.
    """

    def __init__(self, interval_s: float = LEASE_S / 4) -> None:
        self.interval_s = interval_s
        self._locks: dict[InstanceId, InstanceLock] = {}
        self._fences: dict[InstanceId, Fence] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def locks(self) -> list[InstanceLock]:
        return list(self._locks.values())

    def add(self, lock: InstanceLock, *, sent_at: float | None = None) -> Fence:
        """Renew ``lock`` from now on; returns its instance's fence, (re)opened from ``sent_at`` (when the lease
        was requested; default now)."""
        self._locks[lock.instance] = lock
        fence = self._fences.get(lock.instance)
        if fence is None:
            fence = self._fences[lock.instance] = Fence(lock.instance.key, lease_s=LEASE_S, margin_s=FENCE_MARGIN_S)
        fence.reacquired(time.monotonic() if sent_at is None else sent_at)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="emufleet-lock-keeper")
        return fence

    def fence(self, instance: InstanceId) -> Fence | None:
        """The fence of ``instance``'s lock, if this process holds (or held) it."""
        return self._fences.get(instance)

    def discard(self, instance: InstanceId) -> None:
        self._locks.pop(instance, None)
        self._fences.pop(instance, None)

    async def _run(self) -> None:
        async with get_client() as client:
            while self._locks:
                await asyncio.sleep(self.interval_s)
                # all at once: one after the other, 32 renewals on a loaded server took longer than a fence lasts
                await asyncio.gather(*(self._renew(client, lock) for lock in list(self._locks.values())))

    async def _renew(self, client: PrefectClient, lock: InstanceLock) -> None:
        fence = self._fences.get(lock.instance)
        sent = time.monotonic()
        try:
            await client.renew_concurrency_lease(lock.lease_id, lease_duration=LEASE_S)
        except (PrefectHTTPStatusError, ObjectNotFound) as exc:
            _log.warning("instance %s: lease %s not renewed: %s", lock.instance, lock.lease_id, exc)
            if fence is not None and self._locks.get(lock.instance) == lock:
                fence.revoke(f"lease {lock.lease_id} refused on renewal ({exc})")
            return
        except Exception as exc:  # the server may be briefly unreachable: the fence's own clock runs out
            _log.warning("instance %s: lease renewal failed: %s", lock.instance, exc)
            return
        if fence is not None and self._locks.get(lock.instance) == lock:
            fence.renewed(sent)

    async def close(self) -> None:
        """Stop renewing (the locks' leases then expire unless released)."""
        self._locks.clear()
        self._fences.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class BotLease:
    """A bot's instance lock as the engine sees it (:class:`emufleet.bot.session.InstanceLease`): the fence, and
    re-acquisition after a loss.

    :meth:`reacquire` takes the instance's slot again for the bot's flow run. A slot that is taken although no
    other live run claims the instance was leaked by a server restart (in-memory leases are forgotten,
    ``active_slots`` is not): it is reset and taken. Another live claimer means another launch has the instance.
    """

    def __init__(self, keeper: LockKeeper, lock: InstanceLock, holder: UUID, *, also_mine: Iterable[UUID] = ()) -> None:
        self.keeper = keeper
        self.lock = lock
        self.holder = holder
        self.mine = {holder, *also_mine}  # the bot's run and its launch's: their claims are ours
        held = keeper.fence(lock.instance)  # taken by the launch: already renewed, its fence already running
        self.fence = held if held is not None and lock in keeper.locks else keeper.add(lock)

    async def reacquire(self) -> bool:
        async with get_client() as client:
            sent = time.monotonic()
            lock = await try_acquire(client, self.lock.instance, holder=self.holder)
            if lock is None:
                if await holders(client, self.lock.instance, exclude=self.mine):
                    return False
                await client.update_global_concurrency_limit(
                    limit_name(self.lock.instance), GlobalConcurrencyLimitUpdate(active_slots=0))
                lock = await try_acquire(client, self.lock.instance, holder=self.holder)
                if lock is None:
                    return False
        self.lock = lock
        self.keeper.add(lock, sent_at=sent)
        return True

    async def release(self) -> None:
        """Stop renewing and free the slot (idempotent)."""
        self.keeper.discard(self.lock.instance)
        async with get_client() as client:
            await release(client, self.lock)
