"""Emulator backends: find, start and stop emulator instances, by instance index.

``get_backend("simulator" | "adb" | "mumu", **options)`` returns an :class:`EmulatorBackend`:

* ``simulator``: :class:`SimulatorBackend` (``emufleet.sim`` instances, detached processes or an attached
  in-process simulator);
* ``adb``: :class:`AdbBackend` (already-running devices: connect only);
* ``mumu``: :class:`MumuBackend` (``MuMuManager.exe`` on Windows).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emufleet.device.backends._base import EmulatorBackend, InstanceInfo, LaunchGuard, mumu_serial
from emufleet.device.backends.adb import AdbBackend
from emufleet.device.backends.mumu import MumuBackend
from emufleet.device.backends.simulator import SimulatorBackend
from emufleet.errors import InputError

__all__ = ["AdbBackend", "BACKENDS", "EmulatorBackend", "InstanceInfo", "LaunchGuard", "MumuBackend",
           "SimulatorBackend", "get_backend", "mumu_serial"]

#: Backend constructors by name (each takes its own keyword options).
BACKENDS: dict[str, Callable[..., EmulatorBackend]] = {
    "simulator": SimulatorBackend, "adb": AdbBackend, "mumu": MumuBackend}


def get_backend(name: str, **options: Any) -> EmulatorBackend:  # Any: each constructor types its own keywords
    """The backend called ``name``, constructed with ``options`` (its constructor's keywords).

    Raises:
        InputError: unknown backend name, or an option the backend does not take.
    """
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise InputError(f"unknown emulator backend {name!r}; choose from {', '.join(BACKENDS)}",
                         field="backend") from None
    try:
        backend: EmulatorBackend = cls(**options)
    except TypeError as exc:
        raise InputError(f"backend {name!r}: {exc}", field="backend") from exc
    return backend
