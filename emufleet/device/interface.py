"""The device interface the engine drives: a real adbutils-backed ``Device`` and stand-ins implement it.

Coordinates are **device pixels** (540×960 for the default MuMu layout); mapping from a template set's
coordinate space happens in :mod:`emufleet.vision`, never here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["DeviceLike", "RecoverableDevice", "ShellResult"]


@dataclass(frozen=True, slots=True)
class ShellResult:
    """Outcome of a shell command: merged stdout/stderr text and the exit code (``None`` if unknown)."""

    output: str
    exit_code: int | None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class DeviceLike(Protocol):
    """What routines, accounts and flows need from a device. Every method may raise ``DeviceError``."""

    serial: str

    def screenshot(self) -> np.ndarray:
        """A fresh frame: ``(H, W, 3)`` uint8 **BGR**, device pixels."""
        ...

    def tap(self, x: int, y: int) -> None:
        """Tap at device pixel ``(x, y)``."""
        ...

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        """Swipe between device pixels over ``duration_ms`` milliseconds."""
        ...

    def key_event(self, key: str | int) -> None:
        """Send a key event (``"KEYCODE_BACK"`` or a numeric code)."""
        ...

    def input_text(self, text: str) -> None:
        """Type ``text`` literally (shell metacharacters arrive as text; nothing runs)."""
        ...

    def app_start(self, package: str, activity: str | None = None) -> None:
        """Start an app (``am start -W -n pkg/act``, or the launcher intent when ``activity`` is None)."""
        ...

    def app_stop(self, package: str) -> None:
        """Force-stop an app."""
        ...

    def shell(self, command: str, *, timeout_s: float | None = None, check: bool = False) -> ShellResult:
        """Run a shell command; ``check=True`` raises ``ShellError`` on a non-zero exit."""
        ...

    def su(self, command: str, *, timeout_s: float | None = None, check: bool = True) -> ShellResult:
        """Run a command as root (``su -c``)."""
        ...

    def getprop(self, name: str, *, timeout_s: float | None = None) -> str:
        """A system property's value, stripped (``""`` when unset), e.g. ``sys.boot_completed``."""
        ...

    def foreground_app(self) -> str | None:
        """The package of the focused window, or None when nothing is focused."""
        ...

    def push(self, data: bytes, remote_path: str) -> None:
        """Write ``data`` to ``remote_path`` (creating parent folders)."""
        ...

    def pull(self, remote_path: str) -> bytes:
        """Read a remote file; ``DeviceError`` if it does not exist."""
        ...


class RecoverableDevice(DeviceLike, Protocol):
    """A device a supervised bot can recover (:class:`~emufleet.device.Device`): reconnect, reboot, wait until
    ready, and capture a black frame on purpose (failure evidence)."""

    def screenshot(self, *, allow_black: bool = False) -> np.ndarray:
        """A fresh frame (see :meth:`DeviceLike.screenshot`); ``allow_black`` accepts an all-black one."""
        ...

    def reconnect(self, timeout_s: float = 10.0) -> None:
        """Disconnect and connect ADB again."""
        ...

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Wait until the device has booted and answers (``DeviceTimeoutError`` after ``timeout_s`` seconds)."""
        ...

    def reboot(self, *, wait: bool = True, timeout_s: float = 120.0) -> None:
        """Reboot; with ``wait``, until ready again."""
        ...
