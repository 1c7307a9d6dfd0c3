"""The engine's components of the local system (:mod:`emufleet.system.lifecycle`): the database, the adb server,
the emulator backend (the simulator's detached instances, the embedded default) and the fleet console's process.
A host whose definition names another backend (``mumu``, ``adb``) gets :class:`BackendComponent`, which only
checks it. The Prefect server and this host's worker are in :mod:`flows.system`; ``emufleet up`` puts them all together.

Each component starts only what is not running, returns once it answers its readiness check, and reports uptime
from its process's creation time (:func:`emufleet.process.started_at`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psutil

from emufleet import db, settings
from emufleet.boundary import JsonObject
from emufleet.device import list_devices
from emufleet.device.backends import InstanceInfo, get_backend
from emufleet.device.backends.simulator import SimulatorBackend
from emufleet.errors import DeviceError, EmufleetError, OrchestrationError
from emufleet.files import write_atomic
from emufleet.process import started_at
from emufleet.resources.loadfile import read_load
from emufleet.sim.adbserver import adb_server_env, adb_server_port, adb_server_running, kill_adb_server
from emufleet.system.health import ComponentHealth, ComponentState
from emufleet.system.probe import free_tcp_port, http_ok
from emufleet.system.records import ProcessRecord, stop_recorded, system_dir

__all__ = ["AdbServerComponent", "BackendComponent", "ConsoleComponent", "DatabaseComponent", "HostLoadComponent",
           "SimulatorComponent", "emufleet_command", "wait_ready"]

RUNNING, STOPPED, FAILED = ComponentState.RUNNING, ComponentState.STOPPED, ComponentState.FAILED
_EMULATOR_CONFIG = "emulator.json"  # what the last `up` started, so status and down see the same instances


def emufleet_command(*args: str) -> list[str]:
    """``emufleet ARGS`` as an argv of this interpreter (no console script needed: works from any venv layout)."""
    return [sys.executable, "-c", "from emufleet.cli import main; main()", *args]


def wait_ready(ready: Callable[[], bool], what: str, timeout_s: float, record: ProcessRecord | None = None) -> None:
    """Poll ``ready()`` every 0.1 s until true (the readiness wait of a start).

    Raises:
        OrchestrationError: the recorded process died (the end of its log is in the message), or ``timeout_s``
            ran out (the process is then stopped).
    """
    deadline = time.monotonic() + timeout_s
    while not ready():
        if record is not None and not record.alive:
            raise OrchestrationError(f"{what} exited during start-up: {record.log_tail()}")
        if time.monotonic() > deadline:
            if record is not None:
                record.stop(timeout_s=5.0)
            raise OrchestrationError(f"{what} not ready within {timeout_s:.0f} s"
                                     + (f"; log {ProcessRecord.log(record.component)}" if record else ""))
        time.sleep(0.1)


@dataclass
class DatabaseComponent:
    """emufleet's database (``EMUFLEET_DATABASE_URL``, SQLite by default) migrated to its schema head. Nothing to
    stop: ``down`` leaves the data where it is."""

    name: str = "database"
    requires: tuple[str, ...] = ()
    required: bool = True

    def start(self, timeout_s: float) -> str:
        engine = db.engine()
        try:
            revision = db.upgrade(engine)
        finally:
            engine.dispose()
        return f"at schema head {revision} ({db.safe_url(settings.database_url())})"

    def stop(self) -> str:
        return "left as is (data)"

    def health(self) -> ComponentHealth:
        url = db.safe_url(settings.database_url())
        engine = db.engine()
        try:
            with db.translate_db_errors("health check"):
                current, head = db.current_revision(engine), db.head_revision()
        except EmufleetError as exc:
            return ComponentHealth(self.name, FAILED, self.required, issue=str(exc), detail=url)
        finally:
            engine.dispose()
        if current != head:
            return ComponentHealth(self.name, FAILED, self.required, detail=url,
                                   issue=f"schema at {current or 'nothing'}, head is {head} (emufleet up migrates)")
        return ComponentHealth(self.name, RUNNING, self.required, detail=f"{url} at {head}")


def _adb_server_process(port: int) -> psutil.Process | None:
    """The adb server listening on ``port`` (its command line says ``fork-server`` and ``tcp:<port>``)."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "fork-server" in cmdline and any(arg.endswith(f"tcp:{port}") for arg in cmdline):
            return proc
    return None


@dataclass
class AdbServerComponent:
    """The adb server on ``ANDROID_ADB_SERVER_PORT`` (5037): the one every device call and the worker's bots use."""

    name: str = "adb"
    requires: tuple[str, ...] = ()
    required: bool = True

    def start(self, timeout_s: float) -> str:
        import subprocess

        from adbutils._utils import adb_path

        port = adb_server_port()
        if adb_server_running(port):
            return f"already running on 127.0.0.1:{port}"
        try:  # adb forks its own server and returns once it listens
            done = subprocess.run([adb_path(), "-P", str(port), "start-server"], capture_output=True, text=True,
                                  timeout=timeout_s, check=False, env=adb_server_env())
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OrchestrationError(f"adb start-server: {exc}") from exc
        if done.returncode or not adb_server_running(port):
            raise OrchestrationError(f"adb start-server failed: {(done.stderr or done.stdout).strip()}")
        return f"started on 127.0.0.1:{port}"

    def stop(self) -> str:
        port = adb_server_port()
        if not adb_server_running(port):
            return "not running"
        kill_adb_server(port)
        return f"stopped (127.0.0.1:{port})"

    def health(self) -> ComponentHealth:
        port = adb_server_port()
        if not adb_server_running(port):
            return ComponentHealth(self.name, STOPPED, self.required, detail=f"127.0.0.1:{port}")
        proc = _adb_server_process(port)
        uptime = None if proc is None else max(time.time() - proc.create_time(), 0.0)
        try:
            devices = list_devices(adb_port=port)
        except DeviceError as exc:
            return ComponentHealth(self.name, FAILED, self.required, uptime, str(exc), f"127.0.0.1:{port}")
        online = sum(1 for d in devices if d.state == "device")
        return ComponentHealth(self.name, RUNNING, self.required, uptime,
                               detail=f"127.0.0.1:{port}, {online} of {len(devices)} device(s) online")


@dataclass
class SimulatorComponent:
    """The embedded emulator backend: ``instances`` simulated MuMu instances as detached processes
    (:class:`~emufleet.device.backends.simulator.SimulatorBackend`, the same pid files a launch of a ``simulator``
    group uses, so launches find them running), connected through the adb server."""

    instances: int = 4
    scenario: str = "demo"
    base_port: int = 16384
    name: str = "emulator"
    requires: tuple[str, ...] = ("adb",)
    required: bool = True

    @classmethod
    def configured(cls) -> SimulatorComponent:
        """The instances the last ``emufleet up`` started (its record), else the defaults."""
        try:
            data = json.loads((system_dir() / _EMULATOR_CONFIG).read_text(encoding="utf-8"))
            return cls(int(data["instances"]), str(data["scenario"]), int(data["base_port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return cls()

    def _backend(self) -> SimulatorBackend:
        return SimulatorBackend(instances=self.instances, scenario=self.scenario, base_port=self.base_port)

    def start(self, timeout_s: float) -> str:
        write_atomic(system_dir() / _EMULATOR_CONFIG, json.dumps(
            {"instances": self.instances, "scenario": self.scenario, "base_port": self.base_port}))
        backend = self._backend()
        before = sum(1 for i in backend.list_instances() if i.running)
        with ThreadPoolExecutor(max_workers=self.instances, thread_name_prefix="emufleet-up-sim") as pool:
            devices = list(pool.map(lambda i: backend.start(i, timeout_s=timeout_s), range(self.instances)))
        started = self.instances - before
        return (f"{started} started, {before} already running: " if started else "already running: ") + \
            " ".join(d.serial for d in devices)

    def stop(self) -> str:
        backend = self._backend()
        running = [i for i in backend.list_instances() if i.running]
        for info in running:
            backend.stop(info.index)
        return f"{len(running)} instance(s) stopped" if running else "not running"

    def health(self) -> ComponentHealth:
        infos = self._backend().list_instances()
        up = [i for i in infos if i.running]
        detail = f"simulator {len(up)}/{len(infos)}: " + " ".join(i.serial for i in up)
        if not up:
            return ComponentHealth(self.name, STOPPED, self.required, detail=f"simulator 0/{len(infos)}")
        starts = [s for s in (started_at(i.pid) for i in up if i.pid is not None) if s is not None]
        uptime = time.time() - min(starts) if starts else None
        issue = "" if len(up) == len(infos) else f"{len(infos) - len(up)} instance(s) not running"
        return ComponentHealth(self.name, RUNNING, self.required, uptime, issue, detail)


@dataclass
class ConsoleComponent:
    """The fleet console (``emufleet console``) as a background process on ``port`` (4300 when free).

    ``prefect_api``: gives the Prefect server's API URL as soon as its process runs (waiting at most the given
    seconds); the console is then started alongside the server (``uses`` it rather than ``requires`` it), given
    that URL, and waits for the server's health itself after its imports (``emufleet console --wait-for-server``).
    """

    host: str = "127.0.0.1"
    port: int = 4300
    name: str = "console"
    requires: tuple[str, ...] = ("database", "prefect", "adb")
    required: bool = False
    uses: tuple[str, ...] = ()
    prefect_api: Callable[[float], str] | None = None

    def _url(self, record: ProcessRecord) -> str:
        return str(record.extra.get("url", ""))

    def start(self, timeout_s: float) -> str:
        record = ProcessRecord.read(self.name)
        if record is not None and http_ok(f"{self._url(record)}/health"):
            return f"already running: {self._url(record)} (pid {record.pid})"
        if record is not None:
            record.stop()
        port = free_tcp_port(self.port, self.host)
        url = f"http://{self.host}:{port}"
        args, env = ["console", "--host", self.host, "--port", str(port)], None
        if self.prefect_api is not None:
            env = {**os.environ, "PREFECT_API_URL": self.prefect_api(timeout_s)}
            args += ["--wait-for-server", f"{min(timeout_s, 3600.0):g}"]  # the option's bound
        try:
            record = ProcessRecord.spawn(self.name, emufleet_command(*args), env=env, extra={"url": url})
        except OSError as exc:
            raise OrchestrationError(f"the console did not start: {exc}") from exc
        wait_ready(lambda: http_ok(f"{url}/health", 1.0), "the console", timeout_s, record)
        return f"{url} (pid {record.pid})"

    def stop(self) -> str:
        return stop_recorded(self.name)

    def health(self) -> ComponentHealth:
        record = ProcessRecord.read(self.name)
        if record is None:
            return ComponentHealth(self.name, STOPPED, self.required)
        url = self._url(record)
        if not http_ok(f"{url}/health"):
            return ComponentHealth(self.name, FAILED, self.required, record.uptime_s,
                                   f"pid {record.pid} does not answer {url}/health", url)
        return ComponentHealth(self.name, RUNNING, self.required, record.uptime_s, detail=url)


@dataclass
class BackendComponent:
    """A host's own emulator backend (``hosts/<name>.yaml`` ``backend: mumu`` or ``adb``): checked, never started or
    stopped by ``up``/``down`` (a launch starts the instances it uses). Running when the backend answers
    ``list_instances`` (MuMuManager.exe found and answering, say)."""

    backend: str
    options: JsonObject
    name: str = "emulator"
    requires: tuple[str, ...] = ("adb",)
    required: bool = True

    def _list(self) -> list[InstanceInfo]:
        return get_backend(self.backend, **self.options).list_instances()

    def start(self, timeout_s: float) -> str:
        infos = self._list()
        return f"{self.backend}: {sum(i.running for i in infos)} of {len(infos)} instance(s) running (launches " \
               "start the ones they use)"

    def stop(self) -> str:
        return f"{self.backend}: left as is"

    def health(self) -> ComponentHealth:
        try:
            infos = self._list()
        except EmufleetError as exc:
            return ComponentHealth(self.name, FAILED, self.required, issue=str(exc), detail=self.backend)
        return ComponentHealth(self.name, RUNNING, self.required,
                               detail=f"{self.backend}: {sum(i.running for i in infos)} of {len(infos)} running")


@dataclass
class HostLoadComponent:
    """This machine: its CPU and memory now, uptime since boot, and — while a launch runs here — whether that launch
    has put it in degraded mode (:mod:`emufleet.resources`; the launch's load file). Nothing to start or stop."""

    host: str
    name: str = "host"
    requires: tuple[str, ...] = ()
    required: bool = False

    def _now(self) -> str:
        return f"CPU {psutil.cpu_percent(interval=0.2):.0f} %, memory {psutil.virtual_memory().percent:.0f} %"

    def start(self, timeout_s: float) -> str:
        return f"{self.host}: {self._now()} (launches watch it)"

    def stop(self) -> str:
        return "nothing to stop"

    def health(self) -> ComponentHealth:
        load = read_load(self.host)
        issue = ""
        if load is not None and load.get("degraded"):
            issue = (f"degraded mode: a launch saw CPU {load.get('cpu_percent')} %, memory "
                     f"{load.get('memory_percent')} %; captures slowed")
        shed = f", {load.get('shed')} bot(s) shed" if load is not None and load.get("shed") else ""
        return ComponentHealth(self.name, RUNNING, self.required, max(time.time() - psutil.boot_time(), 0.0), issue,
                               f"{self.host}: {self._now()}{shed}")
