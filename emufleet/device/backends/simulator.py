"""Simulated MuMu instances (:mod:`emufleet.sim`) as an emulator backend, in one of two modes.

* **Detached** (default; what ``emufleet instances start`` uses): each instance is its own background process
  (``python -m emufleet.sim._instance``) serving ``127.0.0.1:(base_port + 32·index)``, recorded in a
  pid file ``<state_dir>/simulator/instance-<index>.pid``. Instances start and stop independently and outlive
  the command that started them.
* **Attached**: ``SimulatorBackend(simulator=sim)`` drives the instances of an in-process
  :class:`emufleet.sim.Simulator` (tests, the demo). ``stop`` turns an instance "off" by making it refuse
  connections (the simulator's ``refuse`` fault) and ``start`` clears its faults and waits until ready.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet import settings
from emufleet.device.backends._base import (
    MUMU_BASE_PORT,
    InstanceInfo,
    LaunchGuard,
    guarded,
    mumu_serial,
    ready_device,
)
from emufleet.device.backends.adb import port_open
from emufleet.device.device import Device
from emufleet.errors import DeviceError
from emufleet.process import pid_alive, spawn_detached, stop_tree

if TYPE_CHECKING:
    from emufleet.sim import Simulator

__all__ = ["SimulatorBackend"]

_STOP_GRACE_S = 5.0


class SimulatorBackend:
    """Simulated instances, detached processes or an attached in-process :class:`~emufleet.sim.Simulator`.

    Args:
        simulator: attach to this running simulator instead of managing processes.
        instances: how many instances ``list_instances`` reports (detached mode).
        scenario: scenario name or path for new instances (detached mode).
        base_port: port of instance 0 (detached mode).
        state_dir: where pid and log files go (default ``emufleet.settings.state_dir()/simulator``).
        launch_guard: held around each process launch.
        device_factory: how serials become :class:`Device` objects.
    """

    name = "simulator"

    def __init__(self, *, simulator: Simulator | None = None, instances: int = 4, scenario: str = "demo",
                 base_port: int = MUMU_BASE_PORT, state_dir: str | os.PathLike[str] | None = None,
                 launch_guard: LaunchGuard | None = None,
                 device_factory: Callable[[str], Device] = Device) -> None:
        self._sim = simulator
        self._count = len(simulator.instances) if simulator is not None else instances
        self._scenario = scenario
        self._base_port = base_port
        self._state_dir = Path(state_dir) if state_dir else None
        self._guard = launch_guard
        self._device_factory = device_factory
        self._stopped: set[int] = set()  # attached mode: instances turned "off"

    # -- shared ----------------------------------------------------------------------------------------------

    def serial(self, index: int) -> str:
        if self._sim is not None:
            self._check_index(index)
            return self._sim.instances[index].serial
        return mumu_serial(index, self._base_port)

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._count:
            raise DeviceError(f"simulator backend: no instance {index} (it has {self._count})")

    def list_instances(self) -> list[InstanceInfo]:
        return [InstanceInfo(index=i, serial=self.serial(i), running=(running := self.is_running(i)),
                             state="running" if running else "stopped", pid=self._pid(i))
                for i in range(self._count)]

    def is_running(self, index: int) -> bool:
        if self._sim is not None:
            self._check_index(index)
            return index not in self._stopped
        pid = self._pid(index)
        return pid is not None and pid_alive(pid) and port_open(self.serial(index))

    def start(self, index: int, timeout_s: float = 60.0) -> Device:
        self._check_index(index)
        if self._sim is not None:
            self._sim.instances[index].clear_faults()
            self._stopped.discard(index)
        elif not self.is_running(index):
            with guarded(self._guard, index):
                self._spawn(index)
        check = None if self._sim is not None else lambda: self._check_alive(index)
        return ready_device(self.serial(index), timeout_s, poll_s=0.1, device_factory=self._device_factory,
                            still_starting=check)

    def stop(self, index: int) -> None:
        self._check_index(index)
        if self._sim is not None:
            self._sim.instances[index].inject_fault("refuse")
            self._stopped.add(index)
        else:
            self._terminate(index)
        self._device_factory(self.serial(index)).disconnect()

    # -- detached processes ----------------------------------------------------------------------------------

    def _dir(self) -> Path:
        path = self._state_dir or settings.state_dir() / "simulator"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _pid_file(self, index: int) -> Path:
        return self._dir() / f"instance-{index}.pid"

    def _pid(self, index: int) -> int | None:
        if self._sim is not None:
            return os.getpid()
        try:
            return int(self._pid_file(index).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _spawn(self, index: int) -> None:
        port = self._base_port + 32 * index
        if port_open(self.serial(index)):
            raise DeviceError(f"port {port} is already in use by another process", serial=self.serial(index))
        pid = spawn_detached([sys.executable, "-m", "emufleet.sim._instance", "--port", str(port),
                              "--scenario", self._scenario], self._dir() / f"instance-{index}.log")
        self._pid_file(index).write_text(f"{pid}\n")

    def _check_alive(self, index: int) -> None:
        """Raise with the end of the instance's log when its process has exited."""
        pid = self._pid(index)
        if pid is not None and pid_alive(pid, reap=True):
            return
        log = self._dir() / f"instance-{index}.log"
        tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
        raise DeviceError(f"simulated instance {index} exited during start-up; log {log}:\n{tail}",
                          serial=self.serial(index))

    def _terminate(self, index: int) -> None:
        pid = self._pid(index)
        if pid is not None:
            stop_tree(pid, timeout_s=_STOP_GRACE_S)
        self._pid_file(index).unlink(missing_ok=True)
