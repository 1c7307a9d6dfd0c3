"""The Prefect parts of the local system (:mod:`emufleet.system`): the Prefect server and this host's worker, and
:func:`local_components`, the whole local system in dependency order for ``emufleet up``/``down``/``status`` and
the console's ``GET /api/system``.

Neither imports Prefect: the server is :mod:`flows.server`'s; the worker is ``prefect worker start`` as a detached
process (pool :data:`emufleet.hosts.WORK_POOL`, this host's work queue, named ``emufleet-<host>``), ready once the
Prefect API lists it *ONLINE* (its first heartbeat), asked over the REST API.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime

from emufleet.errors import OrchestrationError
from emufleet.hosts import WORK_POOL, HostStore, this_host
from emufleet.settings import project_root
from emufleet.system import (
    AdbServerComponent,
    BackendComponent,
    Component,
    ComponentHealth,
    ComponentState,
    ConsoleComponent,
    DatabaseComponent,
    HostLoadComponent,
    ProcessRecord,
    SimulatorComponent,
)
from emufleet.system.components import wait_ready
from emufleet.system.probe import http_json
from emufleet.system.records import stop_recorded
from flows.server import (
    HEARTBEAT_FREQUENCY_S,
    health_ok,
    health_within,
    running_server,
    start_server,
    stop_server,
)

__all__ = ["PrefectServerComponent", "WorkerComponent", "local_components"]

RUNNING, STOPPED, FAILED = ComponentState.RUNNING, ComponentState.STOPPED, ComponentState.FAILED
WORKER_QUERY_S = 5  # how often the worker asks for scheduled runs (Prefect's default: 10 s)


@dataclass
class PrefectServerComponent:
    """The Prefect server every emufleet process uses (:func:`flows.server.ensure_server`'s): ``PREFECT_API_URL``
    when set (checked, never started or stopped), else the recorded local one, started when there is none.

    :meth:`api_url` gives its URL as soon as its process runs, before it answers: the components that use it start
    alongside it (their imports overlap its start) and wait for its health themselves."""

    name: str = "prefect"
    requires: tuple[str, ...] = ()
    required: bool = True
    _api: Future[str] = field(default_factory=Future, init=False, repr=False, compare=False)

    def api_url(self, timeout_s: float) -> str:
        """The server's API URL once :meth:`start` knows it (at most ``timeout_s`` seconds).

        Raises:
            OrchestrationError: the server could not be started (its error), or no URL within ``timeout_s``.
        """
        try:
            return self._api.result(timeout=timeout_s)
        except TimeoutError:
            raise OrchestrationError(f"the Prefect server was not started within {timeout_s:.0f} s") from None

    def start(self, timeout_s: float) -> str:
        try:
            message = self._start(timeout_s)
        except BaseException as exc:
            if not self._api.done():
                self._api.set_exception(OrchestrationError(f"the Prefect server did not start: {exc}"))
            raise
        return message

    def _start(self, timeout_s: float) -> str:
        current = running_server()
        if current is not None and current.pid is None:
            self._api.set_result(current.api_url)
            if not health_within(current.api_url, min(timeout_s, 5.0)):
                raise OrchestrationError(f"PREFECT_API_URL={current.api_url} does not answer /health")
            return f"external: {current.api_url}"
        if current is not None:
            self._api.set_result(current.api_url)
            return f"already running: {current.ui_url} (pid {current.pid})"
        server = start_server(timeout_s=timeout_s, on_spawn=lambda spawned: self._api.set_result(spawned.api_url))
        return f"{server.ui_url} (pid {server.pid}, database {server.database})"

    def stop(self) -> str:
        current = running_server()
        if current is None:
            return "not running"
        if current.pid is None:
            return f"external ({current.api_url}): left running"
        stop_server(dataclasses.replace(current, owned=True))
        return f"stopped (pid {current.pid})"

    def health(self) -> ComponentHealth:
        current = running_server()
        if current is None:
            return ComponentHealth(self.name, STOPPED, self.required)
        uptime = None if current.started is None else max(time.time() - current.started, 0.0)
        if not health_ok(current.api_url):
            return ComponentHealth(self.name, FAILED, self.required, uptime, "does not answer /api/health",
                                   current.api_url)
        where = current.ui_url + (f" (pid {current.pid})" if current.pid else " (external)")
        return ComponentHealth(self.name, RUNNING, self.required, uptime, detail=where)


def _worker_online(api_url: str, worker: str, since: float | None = None) -> bool:
    """Whether the API lists ``worker`` in :data:`WORK_POOL` as ONLINE (with a heartbeat after ``since``)."""
    try:
        listed = http_json(f"{api_url.rstrip('/')}/work_pools/{WORK_POOL}/workers/filter", {"limit": 200})
    except OrchestrationError:  # the pool does not exist yet (the worker creates it), or the API is busy
        return False
    for entry in listed if isinstance(listed, list) else []:
        if isinstance(entry, dict) and entry.get("name") == worker and entry.get("status") == "ONLINE":
            beat = entry.get("last_heartbeat_time")
            if since is None or (isinstance(beat, str) and datetime.fromisoformat(beat).timestamp() >= since - 1):
                return True
    return False


@dataclass
class WorkerComponent:
    """This host's Prefect worker: process work pool :data:`~emufleet.hosts.WORK_POOL`, the host's work queue
    (``hosts/<name>.yaml``'s ``work_queue``, default its name), runs in the project folder (``EMUFLEET_HOME``).

    With ``server`` (what :func:`local_components` gives), it starts alongside the Prefect server
    (:mod:`flows.worker_app`: imports first, then waits for the server's health itself); without, once a server
    runs."""

    name: str = "worker"
    requires: tuple[str, ...] = ("prefect", "database", "emulator")
    required: bool = False
    uses: tuple[str, ...] = ()
    server: PrefectServerComponent | None = None

    @property
    def worker_name(self) -> str:
        return f"emufleet-{this_host()}"

    def _api(self, timeout_s: float | None = None) -> str:
        if self.server is not None and timeout_s is not None:
            return self.server.api_url(timeout_s)
        server = running_server()
        if server is None:
            raise OrchestrationError("no Prefect server: start it first (emufleet up)")
        return server.api_url

    def start(self, timeout_s: float) -> str:
        api = self._api(timeout_s)
        queue = HostStore().get(this_host()).queue
        record = ProcessRecord.read(self.name)
        if record is not None and health_within(api, timeout_s) and _worker_online(api, self.worker_name):
            return f"already running: {self.worker_name} on queue {queue} (pid {record.pid})"
        if record is not None:
            record.stop(timeout_s=5.0)
        env = {**os.environ, "PREFECT_API_URL": api, "EMUFLEET_HOME": str(project_root()),
               "PREFECT_WORKER_QUERY_SECONDS": os.environ.get("PREFECT_WORKER_QUERY_SECONDS", str(WORKER_QUERY_S)),
               "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": os.environ.get("PREFECT_FLOWS_HEARTBEAT_FREQUENCY",
                                                                   str(HEARTBEAT_FREQUENCY_S)),
               "DO_NOT_TRACK": "1"}
        args = [sys.executable, "-m", "flows.worker_app", "--pool", WORK_POOL, "--queue", queue,
                "--name", self.worker_name, "--wait", f"{timeout_s:g}"]
        try:
            record = ProcessRecord.spawn(self.name, args, env=env, extra={"queue": queue, "api_url": api})
        except OSError as exc:
            raise OrchestrationError(f"the worker did not start: {exc}") from exc
        since = record.started
        wait_ready(lambda: _worker_online(api, self.worker_name, since), "the worker", timeout_s, record)
        return f"{self.worker_name} on {WORK_POOL}/{queue} (pid {record.pid})"

    def stop(self) -> str:
        return stop_recorded(self.name, timeout_s=5.0)  # a worker may ignore SIGTERM while it polls: killed after 5 s

    def health(self) -> ComponentHealth:
        record = ProcessRecord.read(self.name)
        if record is None:
            return ComponentHealth(self.name, STOPPED, self.required)
        where = f"{self.worker_name} on {WORK_POOL}/{record.extra.get('queue', '?')}"
        try:
            api = self._api()
        except OrchestrationError as exc:
            return ComponentHealth(self.name, FAILED, self.required, record.uptime_s, str(exc), where)
        if not _worker_online(api, self.worker_name):
            return ComponentHealth(self.name, FAILED, self.required, record.uptime_s,
                                   "not ONLINE in the Prefect API (no recent heartbeat)", where)
        return ComponentHealth(self.name, RUNNING, self.required, record.uptime_s, detail=where)


def local_components(*, instances: int | None = None, base_port: int | None = None, console_port: int = 4300,
                     console: bool = True, worker: bool = True) -> list[Component]:
    """The local system in dependency order: this host (its load), database, Prefect server, adb server, emulator
    backend (the simulator's ``instances`` from ``base_port``; default: what the last ``emufleet up`` started, else
    4 from 16384), console, this host's worker. A host whose ``hosts/<name>.yaml`` names another backend
    (``mumu``) gets that backend checked instead of simulators started.

    Raises:
        HostValidationError: this host's definition file is broken.
    """
    host = HostStore().get(this_host())
    emulator: Component
    if host.backend not in (None, "simulator"):
        emulator = BackendComponent(host.backend, dict(host.backend_options))
    else:
        simulator = SimulatorComponent.configured()
        if instances is not None:
            simulator = dataclasses.replace(simulator, instances=instances)
        if base_port is not None:
            simulator = dataclasses.replace(simulator, base_port=base_port)
        emulator = simulator
    server = PrefectServerComponent()
    parts: list[Component] = [HostLoadComponent(host.name), DatabaseComponent(), server, AdbServerComponent(),
                              emulator]
    # the console and the worker start alongside the server (their imports overlap its start; seed 003's 10 s)
    if console:
        parts.append(ConsoleComponent(port=console_port, requires=("database", "adb"), uses=("prefect",),
                                      prefect_api=server.api_url))
    if worker:
        parts.append(WorkerComponent(requires=("database", "emulator"), uses=("prefect",), server=server))
    return parts
