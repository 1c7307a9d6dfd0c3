"""Two hosts as network namespaces, one Prefect server and one accounts database (both PostgreSQL) in the root
namespace: each host serves the *same* serial ``127.0.0.1:16384`` from its own simulator.

* each host's own launch drives its own device, under its own lock, from the shared pool, without leasing an
  account twice;
* one group spanning both hosts, launched on one: the other host's bot runs on that host's Prefect worker
  (``run-bot`` deployment, a work queue per host), a subflow of the launch like the in-process one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from adbutils._utils import adb_path
from sqlalchemy import select

from emufleet import db
from emufleet.db.cluster import PostgresCluster
from emufleet.hosts import InstanceId
from emufleet.pools import Pool, find_pool
from emufleet.pools.leases import LeaseOwner
from emufleet.sim.adbserver import free_port
from flows.server import start_server, stop_server
from tests.fleet import FleetHome
from tests.hosts.netns import NetnsHost, host_namespaces

pytestmark = [pytest.mark.netns, pytest.mark.slow]

BIN = Path(sys.executable).parent
SERIAL = "127.0.0.1:16384"  # every host's first instance, as on MuMu


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    with host_namespaces(["hosta", "hostb"]) as made:
        yield made


@pytest.fixture
def shared(hosts: list[NetnsHost], tmp_path: Path) -> Iterator[dict[str, str]]:
    """PostgreSQL (accounts + Prefect) and a Prefect server on it, listening on the first veth pair's root side
    (every namespace routes to it; nothing outside this machine does)."""
    hub = hosts[0].gateway
    subnet = f"{hub.split('.')[0]}.{hub.split('.')[1]}.0.0/16"
    with PostgresCluster.start(listen=["127.0.0.1", hub], trust=[subnet]) as pg:
        prefect_db = pg.create_database("prefect")
        server = start_server(tmp_path / "prefect", free_port(), record=False, database_url=prefect_db, host=hub)
        try:
            yield {"port": str(pg.port), "api_url": server.api_url, "accounts": pg.url(), "hub": hub}
        finally:
            stop_server(server)


def fill_pool(shared: dict[str, str]) -> str:
    """Migrate the shared accounts database and fill pool ``test`` once, before any host leases from it."""
    url = shared["accounts"]
    db.upgrade(url)
    eng = db.engine(url)
    try:
        Pool(find_pool("test"), eng, LeaseOwner("refresh")).refresh()
    finally:
        eng.dispose()
    return url


def host_env(host: NetnsHost, home: FleetHome, shared: dict[str, str], tmp_path: Path) -> dict[str, str]:
    state = tmp_path / host.name
    (state / "home").mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    return {**keep, "HOME": str(state / "home"), "EMUFLEET_HOME": str(home.root), "EMUFLEET_STATE_DIR": str(state),
            "EMUFLEET_HOST": host.name, "DO_NOT_TRACK": "1",
            "PREFECT_API_URL": shared["api_url"],
            "EMUFLEET_DATABASE_URL": f"postgresql+psycopg://emufleet@{shared['hub']}:{shared['port']}/emufleet"}


def start_device(host: NetnsHost, env: dict[str, str], adb: str) -> subprocess.Popen[str]:
    """The host's simulator (instance 0 on ``127.0.0.1:16384`` of its own loopback), once it serves, and the
    host's own adb server. (``sim up`` in the foreground: ``--detach`` allows 30 s to start, short on a busy CI.)"""
    sim = host.popen([str(BIN / "emufleet"), "sim", "up", "--instances", "1", "--scenario", "demo", "--base-port",
                      "16384"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while host.run([str(BIN / "emufleet"), "sim", "events", SERIAL, "-n", "1"], env=env, timeout=60).returncode:
        assert sim.poll() is None and time.monotonic() < deadline, f"{host.name}: simulator did not start"
        time.sleep(0.5)
    assert host.run([adb, "start-server"], env=env, timeout=30).returncode == 0
    return sim


def stop_device(host: NetnsHost, env: dict[str, str], adb: str, sim: subprocess.Popen[str]) -> None:
    sim.terminate()  # the simulator stops its instances on SIGTERM
    try:
        sim.wait(timeout=30)
    except subprocess.TimeoutExpired:
        sim.kill()
        sim.wait()
    host.run([adb, "kill-server"], env=env, timeout=30)


def sim_events(host: NetnsHost, env: dict[str, str]) -> list[dict[str, Any]]:
    out = host.run([str(BIN / "emufleet"), "sim", "events", SERIAL], env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def test_two_hosts_same_serial_own_devices_own_locks_one_pool(hosts: list[NetnsHost], shared: dict[str, str],
                                                              fleet_home: FleetHome, tmp_path: Path,  # noqa: F811
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_url = fill_pool(shared)
    for host in hosts:
        fleet_home.group(f"two-{host.name}", instances=[0], bots=1, backend_options={"serials": [SERIAL]},
                         max_accounts=3, launch={"repeat": True, "refresh_pools": False})
    envs = {h.name: host_env(h, fleet_home, shared, tmp_path) for h in hosts}
    adb = adb_path()
    launches: dict[str, subprocess.Popen[str]] = {}
    sims: dict[str, subprocess.Popen[str]] = {}
    try:
        for host in hosts:
            sims[host.name] = start_device(host, envs[host.name], adb)
        for host in hosts:  # both at once: the same serial on two hosts must never be one lock
            launches[host.name] = host.popen([str(BIN / "emufleet"), "groups", "launch", f"two-{host.name}",
                                              "--no-watch"], env=envs[host.name], stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT)
        outputs = {name: proc.communicate(timeout=240)[0] for name, proc in launches.items()}
        for name, proc in launches.items():
            assert proc.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"
        events = {h.name: sim_events(h, envs[h.name]) for h in hosts}
    finally:
        for proc in launches.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for host in hosts:
            if host.name in sims:
                stop_device(host, envs[host.name], adb, sims[host.name])

    eng = db.engine(accounts_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(db.RoutineExecution.account_id, db.RoutineExecution.execution_status,
                                       db.RoutineExecution.bot_instance, db.RoutineExecution.orchestration_id)).all()
            leased = conn.scalar(select(db.Account.id).where(db.Account.lease_token.is_not(None)).limit(1))
    finally:
        eng.dispose()
    completed = [r for r in rows if r.execution_status == "completed"]
    assert len(completed) == 6 and len({r.account_id for r in completed}) == 6  # no account played twice
    assert {r.bot_instance for r in rows} == {SERIAL} and len({r.orchestration_id for r in rows}) == 2
    assert leased is None  # every lease returned
    per_launch = sorted(sum(1 for r in completed if r.orchestration_id == run) for run in {r.orchestration_id
                                                                                          for r in rows})
    assert per_launch == [3, 3]  # each host's launch played its max_accounts
    for host in hosts:  # each host's own device got its 3 accounts injected and its game stopped after each
        injected = [e for e in events[host.name] if e["kind"] == "file"
                    and "deviceAccount" in str(e.get("detail", e).get("path", ""))]
        stops = [e for e in events[host.name] if e["kind"] == "am"]
        assert len(injected) >= 3 and len(stops) >= 3, (host.name, events[host.name][:20])

    async def limits() -> dict[str, int]:
        from prefect.client.orchestration import get_client

        from adapters.locks import limit_name

        async with get_client() as client:
            return {h.name: (await client.read_global_concurrency_limit_by_name(
                limit_name(InstanceId(h.name, SERIAL)))).active_slots for h in hosts}

    import asyncio

    monkeypatch.setenv("PREFECT_API_URL", shared["api_url"])
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: shared["api_url"]}):
        assert asyncio.run(limits()) == {"hosta": 0, "hostb": 0}  # two locks, both taken and freed


def _prefect(host: NetnsHost, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return host.run([str(BIN / "prefect"), "--no-prompt", *args], env=env, timeout=180, cwd=str(REPO))


REPO = Path(__file__).resolve().parents[2]


def test_one_group_spans_two_hosts(hosts: list[NetnsHost], shared: dict[str, str], fleet_home: FleetHome,  # noqa: F811
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    accounts_url = fill_pool(shared)
    (fleet_home.root / "hosts").mkdir()
    for host in hosts:
        (fleet_home.root / "hosts" / f"{host.name}.yaml").write_text(f"name: {host.name}\n", encoding="utf-8")
    fleet_home.group("spread", instances=[f"{h.name}/{SERIAL}" for h in hosts], bots=2, max_accounts=4,
                     launch={"repeat": True, "refresh_pools": False})
    envs = {h.name: host_env(h, fleet_home, shared, tmp_path) for h in hosts}
    a, b = hosts
    deploy_env = {**envs[a.name], "EMUFLEET_HOME": str(REPO)}
    made = _prefect(a, deploy_env, "work-pool", "create", "emufleet", "--type", "process")
    assert made.returncode == 0, made.stdout + made.stderr
    deployed = _prefect(a, deploy_env, "deploy", "--prefect-file", "deployments/prefect.yaml", "--name", "run-bot")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    adb = adb_path()
    workers: list[subprocess.Popen[str]] = []
    sims: dict[str, subprocess.Popen[str]] = {}
    try:
        for host in hosts:
            sims[host.name] = start_device(host, envs[host.name], adb)
        for host in hosts:
            env = {**envs[host.name], "PREFECT_WORKER_QUERY_SECONDS": "1"}
            workers.append(host.popen([str(BIN / "prefect"), "worker", "start", "--pool", "emufleet", "--work-queue",
                                       host.name, "--type", "process"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, cwd=str(fleet_home.root)))
        launch = a.run([str(BIN / "emufleet"), "groups", "launch", "spread", "--no-watch"], env=envs[a.name],
                       timeout=300)
        assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
        events = {h.name: sim_events(h, envs[h.name]) for h in hosts}
    finally:
        for worker in workers:  # a worker may ignore SIGTERM: SIGKILL, by its own pid, and reap it
            worker.kill()
            worker.wait(timeout=30)
        for host in hosts:
            if host.name in sims:
                stop_device(host, envs[host.name], adb, sims[host.name])
    for host in hosts:  # each bot drove its own host's device
        injected = [e for e in events[host.name] if e["kind"] == "file"
                    and "deviceAccount" in str(e.get("detail", e).get("path", ""))]
        assert injected, (host.name, events[host.name][:20])

    eng = db.engine(accounts_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(db.RoutineExecution.account_id, db.RoutineExecution.execution_status,
                                       db.RoutineExecution.orchestration_id)).all()
            leased = conn.scalar(select(db.Account.id).where(db.Account.lease_token.is_not(None)).limit(1))
    finally:
        eng.dispose()
    completed = [r for r in rows if r.execution_status == "completed"]
    assert len(completed) == 4 and len({r.account_id for r in completed}) == 4  # max_accounts, across both hosts
    assert len({r.orchestration_id for r in rows}) == 1 and leased is None  # one launch's leases, all returned

    monkeypatch.setenv("PREFECT_API_URL", shared["api_url"])
    import asyncio

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from adapters.locks import limit_name
    from adapters.registry import bot_runs, bot_status

    async def check() -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            runs = await bot_runs(client, "spread", live=False)
            statuses = {bot_status(r).host: (r, bot_status(r)) for r in runs}  # type: ignore[union-attr]
            assert set(statuses) == {"hosta", "hostb"}
            remote_run, remote = statuses["hostb"]
            assert remote_run.deployment_id is not None and remote_run.parent_task_run_id is not None  # a subflow
            assert remote.state.value == "completed" and remote.accounts_completed >= 1
            assert statuses["hosta"][0].deployment_id is None  # the launching host's bot ran in-process
            for host in hosts:
                limit = await client.read_global_concurrency_limit_by_name(limit_name(InstanceId(host.name, SERIAL)))
                assert limit.active_slots == 0

    with temporary_settings(updates={PREFECT_API_URL: shared["api_url"]}):
        asyncio.run(check())
