"""A host dies while one group runs on two hosts (network namespaces, as in :mod:`tests.hosts.test_two_hosts`):
``kill -9`` of every process in its namespace (its Prefect worker, the bot process the worker started, its simulator
and adb server) once its bot has leased an account and is playing it.

* the dead host's bot run ends *Crashed* (the zombie automation: no flow-run heartbeat for 45 s here, this group's
  own copy of the shipped 90 s one, so the launch ends sooner);
* its instance lock's lease expires on the Prefect server (nobody renews it) and its account's lease expires in the
  accounts database (``lease_ttl``, 30 s here: sooner than the lock's 60 s, the server's minimum): both can be
  taken again, by anyone;
* the other host's bot carries on: it finishes its account after the death and its run ends *Completed*; the launch
  ends by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prefect.client.schemas.objects import StateType
from sqlalchemy import and_, func, not_, select

from emufleet import db
from emufleet.db import utcnow
from emufleet.hosts import InstanceId
from emufleet.pools.leases import leasable
from tests.fleet import FleetHome
from tests.hosts.multihost import (
    BIN,
    SERIAL,
    Shared,
    fill_pool,
    host_env,
    injections,
    kill_host,
    on_server,
    running_hosts,
    sim_events,
    write_hosts,
)
from tests.hosts.netns import NetnsHost

pytestmark = [pytest.mark.netns, pytest.mark.slow]

# An account takes over 10 s (the game in the foreground, as the health checks expect): the launching host's bot is
# still playing when the other host's bot (a new process on its worker, 10-20 s later) has leased its first account
# and dies.
SLOW_CYCLE = """\
version: 1
routine_name: Test slow account cycle
steps:
  - action: InjectNextAccount
    timeout: 2s
    on_no_accounts: stop
  - action: LaunchApp
  - action: Sleep
    duration: 10s
  - action: KillApp
  - action: CompleteAccount
    success: true
"""
LOCK_EXPIRY_S = 120  # after the death: the lock's 60 s lease, then the server's lease clean-up loop
# Longer than a flow-run heartbeat (30 s, Prefect's minimum): a live run is never crashed.
ZOMBIE_AFTER = timedelta(seconds=45)


@contextlib.contextmanager
def zombie_automations(shared: Shared, group: str) -> Iterator[None]:
    """The zombie clean-ups for ``group``'s runs only, after :data:`ZOMBIE_AFTER`; removed on exit."""
    from prefect.client.orchestration import get_client

    from adapters.automations import apply_automations, emufleet_automations, remove_automations
    from adapters.registry import group_tag

    prefix = f"test-{group}: "

    async def apply(remove: bool = False) -> None:
        async with get_client() as client:
            if remove:
                await remove_automations(client, prefix)
            else:
                await apply_automations(client, emufleet_automations(None, zombie_after=ZOMBIE_AFTER, prefix=prefix,
                                                                     tag=group_tag(group),
                                                                     launch_runs=f"launch-{group}"))

    with on_server(shared):
        asyncio.run(apply())
    try:
        yield
    finally:
        with on_server(shared):
            asyncio.run(apply(remove=True))


@pytest.mark.usefixtures("run_bot")
def test_a_dead_hosts_bot_crashes_its_lock_and_lease_expire_and_the_other_host_carries_on(
        hosts: list[NetnsHost], shared: Shared, fleet_home: FleetHome, tmp_path: Path) -> None:
    pool_file = fleet_home.root / "pools" / "test.yaml"
    pool = yaml.safe_load(pool_file.read_text(encoding="utf-8"))
    pool["config"]["lease_ttl"] = 30
    pool_file.write_text(yaml.safe_dump(pool, sort_keys=False), encoding="utf-8")
    accounts_url = fill_pool(shared)
    write_hosts(fleet_home.root, hosts)
    (fleet_home.root / "routines" / "test" / "slow_cycle.yaml").write_text(SLOW_CYCLE, encoding="utf-8")
    fleet_home.group("doomed", routine="test/slow_cycle", instances=[f"{h.name}/{SERIAL}" for h in hosts], bots=2,
                     launch={"repeat": True, "refresh_pools": False})
    envs = {h.name: host_env(h, fleet_home.root, shared, tmp_path) for h in hosts}
    a, b = hosts
    with zombie_automations(shared, "doomed"), running_hosts(hosts, envs, fleet_home.root):
        launch = a.popen([str(BIN / "emufleet"), "groups", "launch", "doomed", "--no-watch"], env=envs[a.name],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 180
            while not injections(sim_events(b, envs[b.name])):  # hostb's bot holds an account and plays it
                assert launch.poll() is None, launch.communicate()[0][-3000:]
                assert time.monotonic() < deadline, "hostb's bot never leased an account"
                time.sleep(0.5)
            died_at = utcnow()
            assert kill_host(b)
            output = launch.communicate(timeout=420)[0]
        finally:
            if launch.poll() is None:
                launch.kill()
                launch.communicate()
    assert launch.returncode == 1, output[-3000:]  # a bot failed: the dead host's, shown failed, not "running"
    assert "1 of 2 bots failed" in output, output[-3000:]

    from adapters.locks import limit_name
    from adapters.registry import bot_runs, bot_status

    async def runs_and_locks() -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            runs = {bot_status(r).host: r for r in await bot_runs(client, "doomed", live=False)}  # type: ignore[union-attr]
            assert set(runs) == {"hosta", "hostb"}
            dead, alive = runs["hostb"].state, runs["hosta"].state
            assert dead is not None and dead.type == StateType.CRASHED, (dead, output[-3000:])
            assert alive is not None and alive.type == StateType.COMPLETED, (alive, output[-3000:])
            deadline = time.monotonic() + LOCK_EXPIRY_S
            while True:  # nobody renews the dead bot's lock: its lease expires and the slot comes back
                slots = {h.name: (await client.read_global_concurrency_limit_by_name(
                    limit_name(InstanceId(h.name, SERIAL)))).active_slots for h in hosts}
                if slots == {"hosta": 0, "hostb": 0} or time.monotonic() > deadline:
                    break
                await asyncio.sleep(2)
            assert slots == {"hosta": 0, "hostb": 0}, (slots, datetime.now(UTC))

    with on_server(shared):
        asyncio.run(runs_and_locks())

    eng = db.engine(accounts_url)
    try:
        with eng.connect() as conn:
            lost = conn.execute(select(db.Account.device_account).where(
                db.Account.lease_token.is_not(None), db.Account.pool_status != "completed")).scalars().all()
            held = conn.scalar(select(func.count()).select_from(db.Account).where(
                and_(db.Account.pool_status != "completed", not_(leasable(utcnow())))))
            completed = conn.scalar(select(func.count()).select_from(db.Account).where(
                db.Account.pool_status == "completed"))
            after = conn.scalar(select(func.count()).select_from(db.RoutineExecution).where(
                db.RoutineExecution.execution_status == "completed", db.RoutineExecution.completed_at > died_at))
    finally:
        eng.dispose()
    assert held == 0, "every account the dead host held is leasable again"
    # hostb's account still carries its expired lease, unless hosta's bot outlived that lease and played it
    assert lost or completed == len(fleet_home.accounts), (lost, completed)
    assert after >= 1, "hosta's bot completed an account after hostb died"
