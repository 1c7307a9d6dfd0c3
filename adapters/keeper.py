"""A process's instance locks kept alive: lease renewal and fences (:class:`LockKeeper`), and a bot's lock as the
engine sees it (:class:`BotLease`: the fence, re-acquisition after a loss). The locks themselves:
:mod:`adapters.locks`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from uuid import UUID

from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from adapters.locks import LEASE_S, InstanceLock, holders, limit_name, release, try_acquire
from emufleet.bot.fence import Fence
from emufleet.control import ClaimStore
from emufleet.hosts import InstanceId

__all__ = ["FENCE_MARGIN_S", "BotLease", "LockKeeper"]

_log = logging.getLogger(__name__)

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

    def __init__(self, keeper: LockKeeper, claims: ClaimStore, lock: InstanceLock, holder: UUID, *,
                 also_mine: Iterable[UUID] = ()) -> None:
        self.keeper = keeper
        self.claims = claims
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
                if await holders(client, self.claims, self.lock.instance, exclude=self.mine):
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
