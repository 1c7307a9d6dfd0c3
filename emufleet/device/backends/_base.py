"""The emulator backend protocol, the instance record, and the readiness helper every backend shares.

A backend knows how to find, start and stop emulator *instances* (by instance index) and which adb serial each
one answers on. Launch serialisation across processes or hosts (a Prefect global concurrency limit) belongs to
the flows layer; backends accept a ``launch_guard`` hook so that the engine never imports Prefect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from emufleet.device.device import Device
from emufleet.errors import DeviceConnectError, DeviceError, DeviceTimeoutError

__all__ = ["LaunchGuard", "EmulatorBackend", "InstanceInfo", "MUMU_BASE_PORT", "MUMU_PORT_STRIDE",
           "guarded", "mumu_serial", "ready_device"]

MUMU_BASE_PORT = 16384
MUMU_PORT_STRIDE = 32

LaunchGuard = Callable[[int], AbstractContextManager[object]]
"""Called with the instance index; the returned context is held around the launch request (not the boot)."""


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """One emulator instance as a backend sees it.

    ``running`` means the emulator process is up (not necessarily booted); ``booted`` whether Android is up as
    far as the backend knows (None: unknown); ``state`` is the backend's own word (MuMu ``player_state``, adb
    server state, ``stopped``); ``pid`` when the backend knows it.
    """

    index: int
    serial: str
    running: bool
    booted: bool | None = None
    name: str | None = None
    state: str | None = None
    pid: int | None = None


@runtime_checkable
class EmulatorBackend(Protocol):
    """Finds, starts and stops emulator instances. Errors are :class:`~emufleet.errors.DeviceError`s."""

    name: str

    def list_instances(self) -> list[InstanceInfo]:
        """Every instance the backend knows, running or not, ordered by index."""
        ...

    def serial(self, index: int) -> str:
        """The adb serial of instance ``index`` (``127.0.0.1:PORT``)."""
        ...

    def start(self, index: int, timeout_s: float = 120.0) -> Device:
        """Start instance ``index`` if needed and return it connected and ready (``Device.wait_ready``).

        Raises:
            DeviceTimeoutError: not ready within ``timeout_s``.
            DeviceError: the backend cannot start it.
        """
        ...

    def stop(self, index: int) -> None:
        """Stop instance ``index`` (no error if it is not running)."""
        ...

    def is_running(self, index: int) -> bool:
        """Whether the instance's emulator process is up."""
        ...


def mumu_serial(index: int, base_port: int = MUMU_BASE_PORT, host: str = "127.0.0.1") -> str:
    """MuMu's port formula: ``host:(base_port + 32·index)`` (reference §8; digest §8)."""
    if index < 0:
        raise ValueError(f"instance index must be ≥ 0, got {index}")
    return f"{host}:{base_port + MUMU_PORT_STRIDE * index}"


def guarded(guard: LaunchGuard | None, index: int) -> AbstractContextManager[object]:
    """The launch guard's context for ``index``, or a no-op."""
    return guard(index) if guard is not None else nullcontext()


def ready_device(serial: str, timeout_s: float, *, poll_s: float = 0.5,
                 device_factory: Callable[[str], Device] = Device,
                 still_starting: Callable[[], None] | None = None) -> Device:
    """Connect to ``serial`` (retrying while the emulator still refuses) and wait until it is ready.

    ``still_starting`` is called before each retry and raises (a ``DeviceError``) when the launch has failed,
    so a dead emulator process fails fast instead of running out the timeout.

    Raises:
        DeviceTimeoutError: not connected and ready within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    device = device_factory(serial)
    last: DeviceError | None = None
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeviceTimeoutError(f"no connection within {timeout_s} s ({last})", serial=serial) from last
        try:
            device.connect(min(remaining, 10.0))
            break
        except DeviceConnectError as exc:  # still booting: the port refuses or the handshake is not there yet
            last = exc
            if still_starting is not None:
                still_starting()
            time.sleep(min(poll_s, max(0.0, deadline - time.monotonic())))
    device.wait_ready(max(0.1, deadline - time.monotonic()))
    return device
