"""Devices that are already running (a phone, a MuMu started by hand, a remote emulator): connect only.

Instances are either an explicit list of serials (index = position) or MuMu's port formula
``127.0.0.1:(base_port + 32·index)`` for ``count`` instances. ``start`` connects and waits until ready but cannot
power anything on; ``stop`` only ``adb disconnect``s (the backend does not own the emulator).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence

from emufleet.device.backends._base import MUMU_BASE_PORT, InstanceInfo, mumu_serial, ready_device
from emufleet.device.device import Device
from emufleet.errors import DeviceConnectError

__all__ = ["AdbBackend", "port_open"]


def port_open(serial: str, timeout_s: float = 0.3) -> bool:
    """Whether ``host:port`` of a network serial accepts TCP connections (False for non-network serials)."""
    host, _, port = serial.rpartition(":")
    if not host or not port.isdigit():
        return False
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


class AdbBackend:
    """Connect-only backend.

    Args:
        serials: explicit serials, instance ``i`` being ``serials[i]``; else the port formula is used.
        base_port, count: the formula's base port and how many instances ``list_instances`` reports.
        device_factory: how serials become :class:`Device` objects.
    """

    name = "adb"

    def __init__(self, serials: Sequence[str] | None = None, *, base_port: int = MUMU_BASE_PORT, count: int = 8,
                 device_factory: Callable[[str], Device] = Device) -> None:
        self._serials = list(serials) if serials else None
        self._base_port = base_port
        self._count = len(self._serials) if self._serials else count
        self._device_factory = device_factory

    def serial(self, index: int) -> str:
        if self._serials is None:
            return mumu_serial(index, self._base_port)
        if not 0 <= index < len(self._serials):
            raise DeviceConnectError(f"adb backend: no instance {index} (serials: {', '.join(self._serials)})")
        return self._serials[index]

    def is_running(self, index: int) -> bool:
        serial = self.serial(index)
        if port_open(serial):
            return True
        state = self._device_factory(serial).state()  # USB or emulator-5554 style serials
        return state == "device"

    def list_instances(self) -> list[InstanceInfo]:
        out = []
        for index in range(self._count):
            serial = self.serial(index)
            state = self._device_factory(serial).state()
            running = state == "device" or port_open(serial)
            out.append(InstanceInfo(index=index, serial=serial, running=running, state=state or
                                    ("not connected" if running else "stopped")))
        return out

    def start(self, index: int, timeout_s: float = 120.0) -> Device:
        """Connect and wait until ready; the device must already be running (this backend cannot power it on)."""
        return ready_device(self.serial(index), timeout_s, device_factory=self._device_factory)

    def stop(self, index: int) -> None:
        """``adb disconnect`` only: the emulator itself keeps running."""
        self._device_factory(self.serial(index)).disconnect()
