"""Instance locks on the session Prefect server: exclusive, released, and reconciled after a leak."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.states import Cancelled

from adapters.locks import claim, holders, limit_name, reconcile, release, try_acquire, unclaim
from emufleet.control import ClaimStore
from emufleet.hosts import InstanceId
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = pytest.mark.prefect


@flow(name="lock-holder")
def _holder() -> None:
    """Only used to create flow runs that claim instances."""


def test_lock_is_exclusive_and_released(prefect_server: PrefectServer) -> None:
    serial = InstanceId("host-a", f"127.0.0.1:{uuid.uuid4().int % 50000 + 1024}")

    async def scenario() -> None:
        async with get_client() as client:
            first = await try_acquire(client, serial, holder=None)
            assert first is not None and first.name == limit_name(serial) == f"instance:host-a:{serial.serial}"
            assert await try_acquire(client, serial, holder=None) is None
            await release(client, first)
            await release(client, first)  # idempotent
            second = await try_acquire(client, serial, holder=None)
            assert second is not None
            await release(client, second)
            limit = await client.read_global_concurrency_limit_by_name(limit_name(serial))
            assert limit.active_slots == 0

    asyncio.run(scenario())


def test_reconcile_frees_only_unclaimed_slots(prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    leaked, claimed = (InstanceId("local", f"10.0.0.{i}:{uuid.uuid4().int % 50000 + 1024}") for i in (1, 2))
    claims = ClaimStore(fleet_home.engine())

    async def scenario() -> None:
        async with get_client() as client:
            run = await client.create_flow_run(_holder)  # Scheduled: a live claimer
            await claim(claims, run.id, claimed)
            await claim(claims, run.id, claimed)  # idempotent
            assert [r.id for r in await holders(client, claims, claimed)] == [run.id]
            held = await try_acquire(client, claimed, holder=run.id)
            assert held is not None
            assert await try_acquire(client, leaked, holder=None) is not None  # nobody claims it: a leak
            reset = await reconcile(client, claims, [leaked, claimed])
            assert reset == [leaked]
            assert await try_acquire(client, claimed, holder=None) is None  # still locked
            # Its claimer ended just now: its lease may still be live, so reconcile leaves it to expire, also
            # once the claim is released.
            await client.set_flow_run_state(run.id, Cancelled(), force=True)
            assert await holders(client, claims, claimed) == []
            assert await reconcile(client, claims, [claimed]) == []
            await unclaim(claims, run.id, claimed)
            assert await reconcile(client, claims, [claimed]) == []
            await release(client, held)

    asyncio.run(scenario())
    claims.engine.dispose()


def test_concurrent_claims_of_one_run_are_all_kept(fleet_home: FleetHome) -> None:
    """Bot coroutines claiming and unclaiming at once never overwrite each other (they did as tag writes)."""
    claims = ClaimStore(fleet_home.engine())
    run = str(uuid.uuid4())
    instances = [InstanceId("local", f"127.0.0.1:{16384 + 32 * i}") for i in range(24)]

    async def scenario() -> None:
        await asyncio.gather(*(claim(claims, uuid.UUID(run), i) for i in instances))
        await asyncio.gather(*(unclaim(claims, uuid.UUID(run), i) for i in instances[::2]))

    asyncio.run(scenario())
    assert claims.claims_of(run) == sorted(instances[1::2], key=lambda i: i.key)
    claims.engine.dispose()


def test_launch_guard_serialises_emulator_launches(prefect_server: PrefectServer) -> None:
    from adapters.locks import LAUNCH_LIMIT, launch_guard

    async def slots() -> int:
        async with get_client() as client:
            return (await client.read_global_concurrency_limit_by_name(LAUNCH_LIMIT)).active_slots

    with launch_guard(0):
        assert asyncio.run(slots()) == 1
    assert asyncio.run(slots()) == 0


def test_the_same_serial_on_two_hosts_is_two_locks(prefect_server: PrefectServer) -> None:
    serial = f"127.0.0.1:{uuid.uuid4().int % 50000 + 1024}"  # every MuMu host's first instance has one serial
    a, b = InstanceId("host-a", serial), InstanceId("host-b", serial)

    async def scenario() -> None:
        async with get_client() as client:
            lock_a = await try_acquire(client, a, holder=None)
            lock_b = await try_acquire(client, b, holder=None)
            assert lock_a is not None and lock_b is not None and lock_a.name != lock_b.name
            assert await try_acquire(client, a, holder=None) is None
            await release(client, lock_a)
            await release(client, lock_b)

    asyncio.run(scenario())
