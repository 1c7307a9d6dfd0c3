"""Several emufleet hosts on one machine, for the multi-host tests and ``benchmarks/orchestration.py --hosts N``.

Plain functions and context managers (no pytest fixtures), over the namespaces of :mod:`tests.hosts.netns`::

    with host_namespaces(["hosta", "hostb"]) as hosts, shared_services(hosts, tmp) as shared:
        shared = own_accounts(shared, "t1")               # optional: a new accounts database (one per test)
        fill_pool(shared)                                 # migrate the accounts database, fill pool ``test``
        envs = {h.name: host_env(h, project, shared, tmp) for h in hosts}
        deploy_run_bot(hosts[0], envs["hosta"])           # work pool ``emufleet`` + the ``run-bot`` deployment
        with running_hosts(hosts, envs, instances=4, cwd=project) as fleet:
            fleet["hostb"].serials                        # ['127.0.0.1:16384', '127.0.0.1:16416', …]
            ...                                           # each host: its simulator, adb server, Prefect worker

``running_hosts`` stops everything it started on exit (workers with SIGKILL: a worker may ignore SIGTERM), and
:func:`kill_host` is a host's sudden death (every process of its namespace, SIGKILL).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from adbutils._utils import adb_path

from emufleet import db
from emufleet.db.cluster import PostgresCluster
from emufleet.hosts import WORK_POOL
from emufleet.pools import Pool, find_pool
from emufleet.pools.leases import LeaseOwner
from emufleet.sim.adbserver import adb_server_env, free_port
from flows.server import HEARTBEAT_FREQUENCY_S, start_server, stop_server
from tests.hosts.netns import NetnsHost

__all__ = ["BIN", "REPO", "SERIAL", "HostDevice", "Shared", "deploy_run_bot", "fill_pool", "host_env", "host_pids",
           "injections", "kill_host", "on_server", "own_accounts", "prefect", "running_hosts", "shared_services",
           "sim_events", "start_device", "start_worker", "stop_device", "stop_worker", "write_hosts"]

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
BASE_PORT = 16384
SERIAL = f"127.0.0.1:{BASE_PORT}"  # every host's first instance, as on MuMu
_SIM_STEP = 32  # the simulator's (and MuMu's) port step between instances


@dataclass(frozen=True)
class Shared:
    """The services every host shares, in the root namespace on the ``hub`` address: PostgreSQL (``pg_port``,
    the accounts database ``database`` reached from the root namespace as ``accounts_url``) and the Prefect
    server."""

    hub: str
    pg_port: int
    api_url: str
    accounts_url: str
    database: str = "emufleet"

    @property
    def host_accounts_url(self) -> str:
        """The accounts database as a host (a namespace) reaches it."""
        return f"postgresql+psycopg://emufleet@{self.hub}:{self.pg_port}/{self.database}"


@contextlib.contextmanager
def shared_services(hosts: Sequence[NetnsHost], state_dir: Path) -> Iterator[Shared]:
    """PostgreSQL (accounts + Prefect) and a Prefect server on it, listening on the first host's veth root side
    (every namespace routes to it; nothing outside this machine does); stopped on exit. The Prefect server's home
    is ``state_dir/prefect``."""
    hub = hosts[0].gateway
    subnet = f"{hub.split('.')[0]}.{hub.split('.')[1]}.0.0/16"
    with PostgresCluster.start(listen=["127.0.0.1", hub], trust=[subnet]) as pg:
        prefect_db = pg.create_database("prefect")
        server = start_server(state_dir / "prefect", free_port(), record=False, database_url=prefect_db, host=hub)
        try:
            yield Shared(hub, pg.port, server.api_url, pg.url())
        finally:
            stop_server(server)


def own_accounts(shared: Shared, database: str) -> Shared:
    """``shared`` with a new, empty accounts database ``database`` on the same cluster (tests that share the
    services each get their own accounts: they count every row)."""
    eng = db.engine(shared.accounts_url)
    try:
        with eng.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f'CREATE DATABASE "{database}"')
    finally:
        eng.dispose()
    url = f"{shared.accounts_url.rsplit('/', 1)[0]}/{database}"
    return replace(shared, accounts_url=url, database=database)


@contextlib.contextmanager
def on_server(shared: Shared) -> Iterator[None]:
    """This process's Prefect client (environment and settings context) points at the shared server inside."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    before = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = shared.api_url
    try:
        with temporary_settings(updates={PREFECT_API_URL: shared.api_url}):
            yield
    finally:
        if before is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = before


def write_hosts(project: Path, hosts: Sequence[NetnsHost]) -> None:
    """``hosts/<name>.yaml`` in ``project`` for every host (defaults: the group's backend, queue = name)."""
    (project / "hosts").mkdir(exist_ok=True)
    for host in hosts:
        (project / "hosts" / f"{host.name}.yaml").write_text(f"name: {host.name}\n", encoding="utf-8")


def fill_pool(shared: Shared, pool: str = "test") -> str:
    """Migrate the shared accounts database and fill ``pool`` once (from the current ``EMUFLEET_HOME``), before
    any host leases from it. Returns the database URL (root namespace)."""
    url = shared.accounts_url
    db.upgrade(url)
    eng = db.engine(url)
    try:
        Pool(find_pool(pool), eng, LeaseOwner("refresh")).refresh()
    finally:
        eng.dispose()
    return url


def host_env(host: NetnsHost, project: Path, shared: Shared, state_root: Path) -> dict[str, str]:
    """The environment of a host's emufleet and Prefect processes: project root ``project``, its own state and
    home under ``state_root/<host>``, ``EMUFLEET_HOST``, the shared Prefect server and accounts database, and
    Prefect's flow-run heartbeat at 30 s (docs/supervision.md "Zombie runs": what a worker needs)."""
    state = state_root / host.name
    (state / "home").mkdir(parents=True, exist_ok=True)
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "PYTHONPATH")}
    return {**keep, "HOME": str(state / "home"), "EMUFLEET_HOME": str(project), "EMUFLEET_STATE_DIR": str(state),
            "EMUFLEET_HOST": host.name, "DO_NOT_TRACK": "1", "PREFECT_API_URL": shared.api_url,
            "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_FREQUENCY_S),
            "EMUFLEET_DATABASE_URL": shared.host_accounts_url}


def prefect(host: NetnsHost, env: Mapping[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``prefect --no-prompt ARGS`` on ``host``, from the repository root."""
    return host.run([str(BIN / "prefect"), "--no-prompt", *args], env=dict(env), timeout=180, cwd=str(REPO))


def deploy_run_bot(host: NetnsHost, env: Mapping[str, str]) -> None:
    """Create (or overwrite: tests share the server) the process work pool ``emufleet`` and deploy ``run-bot`` from
    ``deployments/prefect.yaml`` (from ``host``; the deployment's working directory is this checkout), as
    docs/orchestration.md "Several hosts" says.

    Raises:
        AssertionError: a ``prefect`` command failed (its output is the message).
    """
    deploy_env = {**env, "EMUFLEET_HOME": str(REPO)}
    made = prefect(host, deploy_env, "work-pool", "create", WORK_POOL, "--type", "process",
                   "--overwrite")
    assert made.returncode == 0, made.stdout + made.stderr
    deployed = prefect(host, deploy_env, "deploy", "--prefect-file", "deployments/prefect.yaml", "--name", "run-bot")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr


@dataclass
class HostDevice:
    """A host's simulator process (its instances' ``serials``) and the environment its adb server runs in."""

    host: NetnsHost
    env: dict[str, str]
    sim: subprocess.Popen[str]
    serials: list[str] = field(default_factory=list)


def start_device(host: NetnsHost, env: Mapping[str, str], instances: int = 1,
                 base_port: int = BASE_PORT) -> HostDevice:
    """The host's simulator (``instances`` instances on ``127.0.0.1:base_port + 32·i`` of its own loopback), once
    every instance serves, and the host's own adb server. (``sim up`` in the foreground: ``--detach`` allows 30 s
    to start, short on a busy CI.)

    Raises:
        AssertionError: the simulator exited or did not serve within 180 s, or the adb server did not start.
    """
    env = dict(env)
    sim = host.popen([str(BIN / "emufleet"), "sim", "up", "--instances", str(instances), "--scenario", "demo",
                      "--base-port", str(base_port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    device = HostDevice(host, env, sim, [f"127.0.0.1:{base_port + _SIM_STEP * i}" for i in range(instances)])
    deadline = time.monotonic() + 180
    try:
        for serial in device.serials:
            while host.run([str(BIN / "emufleet"), "sim", "events", serial, "-n", "1"], env=env,
                           timeout=60).returncode:
                assert sim.poll() is None and time.monotonic() < deadline, f"{host.name}: simulator did not start"
                time.sleep(0.5)
        assert host.run([adb_path(), "start-server"], env=adb_server_env(env), timeout=30).returncode == 0
    except BaseException:
        stop_device(device)
        raise
    return device


def stop_device(device: HostDevice) -> None:
    """Stop the host's simulator (SIGTERM stops its instances; SIGKILL after 30 s) and its adb server."""
    device.sim.terminate()
    try:
        device.sim.wait(timeout=30)
    except subprocess.TimeoutExpired:
        device.sim.kill()
        device.sim.wait()
    device.host.run([adb_path(), "kill-server"], env=device.env, timeout=30)


def sim_events(host: NetnsHost, env: Mapping[str, str], serial: str = SERIAL) -> list[dict[str, Any]]:
    """The event log of the host's instance ``serial`` (``emufleet sim events``), one dict per event."""
    out = host.run([str(BIN / "emufleet"), "sim", "events", serial], env=dict(env), timeout=30)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def injections(events: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The simulator events that wrote an account file (``deviceAccount``): one per account injected."""
    return [e for e in events if e["kind"] == "file" and "deviceAccount" in str(e.get("detail", e).get("path", ""))]


def start_worker(host: NetnsHost, env: Mapping[str, str], cwd: Path, queue: str | None = None,
                 **popen: Any) -> subprocess.Popen[str]:
    """The host's Prefect worker on work pool ``emufleet``, queue ``queue`` (default: the host's name), polling
    every second. ``popen`` goes to :class:`subprocess.Popen` (default: output discarded)."""
    popen.setdefault("stdout", subprocess.DEVNULL)
    popen.setdefault("stderr", subprocess.DEVNULL)
    return host.popen([str(BIN / "prefect"), "worker", "start", "--pool", WORK_POOL, "--work-queue",
                       queue or host.name, "--type", "process"],
                      env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"}, cwd=str(cwd), **popen)


def stop_worker(worker: subprocess.Popen[str]) -> None:
    """SIGKILL, by its own pid (a worker may ignore SIGTERM), and reap it."""
    worker.kill()
    worker.wait(timeout=30)


def host_pids(host: NetnsHost) -> list[int]:
    """Every process running in the host's namespace (``ip netns pids``)."""
    out = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True, check=True, timeout=30)
    return [int(pid) for pid in out.stdout.split()]


def kill_host(host: NetnsHost, spare: Sequence[int] = ()) -> list[int]:
    """The host dies: SIGKILL every process of its namespace but ``spare`` (its worker, the flow runs the worker
    spawned, …) at once. Returns the pids killed."""
    doomed = [pid for pid in host_pids(host) if pid not in spare]
    for pid in doomed:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return doomed


@contextlib.contextmanager
def running_hosts(hosts: Sequence[NetnsHost], envs: Mapping[str, Mapping[str, str]], cwd: Path, *,
                  instances: int = 1, workers: bool = True) -> Iterator[dict[str, HostDevice]]:
    """Every host's simulator (``instances`` each) and adb server, then (``workers``) its Prefect worker; the
    devices by host name. On exit the workers are killed, then the devices stopped."""
    devices: dict[str, HostDevice] = {}
    started: list[subprocess.Popen[str]] = []
    try:
        for host in hosts:
            devices[host.name] = start_device(host, envs[host.name], instances)
        if workers:
            for host in hosts:
                started.append(start_worker(host, envs[host.name], cwd))
        yield devices
    finally:
        for worker in started:
            stop_worker(worker)
        for device in devices.values():
            stop_device(device)
