"""The simulator: N instances, one listening socket each, served by one asyncio loop in a background thread.

Usage::

    with Simulator(instances=2, scenario="demo", base_port=free_port) as sim:
        inst = sim.instances[0]              # 127.0.0.1:<base_port>; instance i listens on base_port + 32·i
        inst.state; inst.set_state("home"); inst.events
        inst.read_file(path); inst.write_file(path, data)
        inst.inject_fault("latency", screencap_ms=50); inst.clear_faults()

Everything on :class:`SimInstance` is safe to call from any thread: socket work is marshalled onto the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from emufleet.boundary import JsonObject, YamlValue
from emufleet.errors import SimulatorError
from emufleet.sim.appfaults import APP_FAULTS
from emufleet.sim.control import InBandControl
from emufleet.sim.device import DeviceModel, SimEvent
from emufleet.sim.faults import parse_fault
from emufleet.sim.protocol import device_banner
from emufleet.sim.render import Renderer
from emufleet.sim.scenario import Scenario, load_scenario
from emufleet.sim.services import service_lookup
from emufleet.sim.transport import Connection

__all__ = ["DEFAULT_BASE_PORT", "PORT_STRIDE", "SimInstance", "Simulator"]

DEFAULT_BASE_PORT = 16384
PORT_STRIDE = 32  # MuMu: instance i at 16384 + 32·i (reference §8)
T = TypeVar("T")
_log = logging.getLogger(__name__)


class SimInstance:
    """One simulated MuMu instance: its port, device model and faults (thread-safe facade)."""

    def __init__(self, sim: Simulator, index: int, port: int, device: DeviceModel) -> None:
        self.index = index
        self.port = port
        self.serial = f"{sim.host}:{port}"
        self.device = device
        self._sim = sim
        self._server: asyncio.Server | None = None
        self._connections: set[Connection] = set()
        self._banner = device_banner(device.props["ro.product.name"], device.props["ro.product.model"],
                                     device.props["ro.product.device"])
        self._lookup = service_lookup(device)
        device.on_reboot = self._on_reboot

    def __repr__(self) -> str:
        return f"SimInstance({self.index}, {self.serial}, state={self.state!r})"

    # -- screen and logs -----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The current scenario state (expired timers fired)."""
        return self.device.state

    def set_state(self, name: str) -> None:
        """Show ``name`` now (exactly: its ``requires_file`` guard is not applied). Raises SimulatorError."""
        if name not in self.device.scenario.states:
            raise SimulatorError(f"{self.serial}: unknown state {name!r} in scenario {self.device.scenario.name!r}")
        self.device.set_state(name)

    @property
    def events(self) -> list[SimEvent]:
        """A copy of the event log (taps, swipes, keys, text, am/monkey, files written, states, faults …)."""
        return self.device.events

    def clear_events(self) -> None:
        self.device.clear_events()

    def read_file(self, path: str) -> bytes:
        """A device file's content (as root). Raises ``FileNotFoundError``-like :class:`~emufleet.sim.files.FsError`."""
        return self.device.files.read(path, root=True)

    def write_file(self, path: str, data: bytes | str) -> None:
        """Write a device file as root, creating its folders (logged as a ``file`` event)."""
        payload = data.encode() if isinstance(data, str) else data
        self.device.files.write(path, payload, root=True, make_parents=True)

    def file_exists(self, path: str) -> bool:
        return self.device.files.exists(path, root=True)

    # -- faults --------------------------------------------------------------------------------------------
    def inject_fault(self, kind: str, **options: YamlValue) -> None:
        """Inject a fault (see :mod:`emufleet.sim.faults` for kinds and options). Raises SimulatorError."""
        opts = parse_fault(kind, options)
        self.device.check_dialog(kind)  # before logging: a scenario without the fault's dialog refuses it
        self.device.log("fault", kind=kind, **opts)
        if kind == "reboot":
            self.device.reboot(opts["down_s"], opts["boot_s"])
        elif kind == "crash":
            self.device.crash()
        elif kind in APP_FAULTS:
            self.device.inject_app_fault(kind, opts)
        else:
            self.device.faults.set(kind, opts)
            if kind == "refuse":
                self._sim.call(self._stop_listening)
            elif kind == "silent":
                self._sim.call(self._drop_all)  # reconnecting servers now meet the silence

    def clear_faults(self, kind: str | None = None) -> None:
        """Clear one standing fault kind, or all; a refusing instance listens again."""
        if kind is not None:
            parse_fault(kind)
        was = self.device.faults.describe()
        self.device.faults.clear(kind)
        with self.device.lock:
            self.device.app_faults.clear(kind)
        if "refuse" in was and not self.device.faults.refuse:
            self._sim.call(self._listen)
        if "silent" in was and not self.device.faults.silent:
            self._sim.call(self._drop_silent)
        self.device.log("fault", kind="clear", cleared=kind or "all")

    @property
    def faults(self) -> JsonObject:
        """The standing faults, e.g. ``{"latency": {"screencap_ms": 50.0}}`` or ``{"frozen": {"cleared_by": …}}``."""
        with self.device.lock:
            return {**self.device.faults.describe(), **self.device.app_faults.describe()}

    def status(self) -> JsonObject:
        """A summary for ``emufleet sim status``."""
        return {"index": self.index, "serial": self.serial, "state": self.state, "booted": self.device.booted(),
                "app_running": self.device.app_running, "faults": self.faults,
                "connections": len(self._connections), "events": len(self.device.events)}

    # -- loop side -----------------------------------------------------------------------------------------
    async def _listen(self) -> None:
        if self._server is not None:
            return
        try:
            self._server = await asyncio.start_server(self._accept, self._sim.host, self.port, reuse_address=True)
        except OSError as exc:
            raise SimulatorError(f"cannot listen on {self.serial}: {exc.strerror or exc}") from exc

    async def _stop_listening(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        self._drop_all()

    def _drop_all(self) -> None:
        for conn in list(self._connections):
            conn.abort()

    def _drop_silent(self) -> None:
        for conn in list(self._connections):
            if conn.is_silent:
                conn.abort()

    def _on_reboot(self, delay_s: float) -> None:
        loop = self._sim.loop
        if loop is not None:
            loop.call_soon_threadsafe(loop.call_later, delay_s, self._drop_all)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.device.is_down() or self.device.faults.refuse:
            writer.transport.abort()  # adbd down: accept and close
            return
        conn = Connection(reader, writer, banner=self._banner, lookup=self._lookup,
                          silent=lambda: self.device.faults.silent)
        self._connections.add(conn)
        try:
            await conn.serve()
        except asyncio.CancelledError:
            pass  # shutdown: asyncio's stream callback would report a cancelled handler as an error
        finally:
            self._connections.discard(conn)


class Simulator:
    """N simulated MuMu instances in this process (a background thread with its own event loop).

    Args:
        instances: how many (instance *i* listens on ``base_port + 32·i``).
        scenario: a scenario name (``"demo"``), a path to its YAML or folder, or a loaded :class:`Scenario`.
        base_port: port of instance 0 (MuMu's 16384 by default; tests pass a free one).
        host: the address to listen on (loopback).
        workdir: where the instances' file trees live (default: a temp folder removed at :meth:`stop`).
        reboot_down_s, reboot_boot_s: timings of an in-band reboot (``adb reboot``, shell ``reboot``).

    Raises:
        ScenarioError: the scenario is invalid (located). SimulatorError: bad arguments, a port in use.
    """

    def __init__(self, instances: int = 1, scenario: str | Path | Scenario = "demo",
                 base_port: int = DEFAULT_BASE_PORT, *, host: str = "127.0.0.1", workdir: str | Path | None = None,
                 reboot_down_s: float = 1.0, reboot_boot_s: float = 2.0) -> None:
        if instances < 1 or base_port < 1 or base_port + PORT_STRIDE * (instances - 1) > 65535:
            raise SimulatorError(f"cannot place {instances} instance(s) from port {base_port}")
        self.host = host
        self.base_port = base_port
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.renderer = Renderer(self.scenario)
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="emufleet-sim-")
            workdir = self._tmp.name
        root = Path(workdir)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.instances: list[SimInstance] = []
        self._servers: list[asyncio.Server] = []  # extra servers on the loop (the control socket)
        control = InBandControl(self)
        for i in range(instances):
            port = base_port + PORT_STRIDE * i
            device = DeviceModel(i, f"{host}:{port}", self.scenario, self.renderer, root / f"instance-{i}")
            device.reboot_times = (reboot_down_s, reboot_boot_s)
            device.control = control
            self.instances.append(SimInstance(self, i, port, device))

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def serials(self) -> list[str]:
        return [inst.serial for inst in self.instances]

    def instance(self, key: int | str) -> SimInstance:
        """An instance by index or serial (``127.0.0.1:PORT``); raises SimulatorError."""
        for inst in self.instances:
            if key in (inst.index, inst.serial, str(inst.index)):
                return inst
        raise SimulatorError(f"no instance {key!r} (serials: {', '.join(self.serials)})")

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Simulator:
        """Start the loop thread and listen on every port; raises SimulatorError if a port is taken."""
        if self.running:
            return self
        if self._stopped:
            raise SimulatorError("a stopped Simulator cannot be restarted (its file trees are gone): make a new one")
        loop = asyncio.new_event_loop()
        self.loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="emufleet-sim", daemon=True)
        self._thread.start()
        try:
            for inst in self.instances:
                self.call(inst._listen)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close every socket, stop the loop thread, remove the temp file trees. Idempotent."""
        loop, thread = self.loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            except Exception as exc:  # noqa: BLE001 - stopping goes on: the loop and its sockets close below
                _log.warning("simulator shutdown failed: %s: %s", type(exc).__name__, exc)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
        if loop is not None and not loop.is_running():
            loop.close()
        self.loop, self._thread = None, None
        self._stopped = True
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def add_server(self, server: asyncio.Server) -> None:
        """Keep an extra server of the loop (closed at :meth:`stop`)."""
        self._servers.append(server)

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        for inst in self.instances:
            await inst._stop_listening()  # aborts every connection: their handlers end on their own
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=2.0)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # Any: ``fn`` is a plain or a coroutine function of any result (one signature for both would need overloads
    # whose result is still ``T | None``, the on-loop case); callers know what their ``fn`` returns.
    def call(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any:
        """Run ``fn()`` (a function or coroutine function) on the loop thread and return its result."""
        loop = self.loop
        if loop is None:
            raise SimulatorError("the simulator is not running")
        on_loop = threading.current_thread() is self._thread

        async def runner() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        if on_loop:  # already on the loop (the `emufleet-sim` shell command): schedule, don't wait
            loop.create_task(runner())
            return None
        try:
            return asyncio.run_coroutine_threadsafe(runner(), loop).result(timeout=timeout_s)
        except concurrent.futures.TimeoutError as exc:
            raise SimulatorError(f"simulator loop did not answer within {timeout_s} s") from exc
