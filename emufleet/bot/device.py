"""The device a supervised bot's routine drives: the real device behind its fence, with what supervision watches.

:class:`SupervisedDevice` implements :class:`~emufleet.device.interface.DeviceLike` over the bot's device:

* every method that can change the device (input, app start/stop, shell, file push) first checks the bot's
  :class:`~emufleet.bot.fence.Fence` and raises :class:`~emufleet.errors.InstanceLockLost` when it is closed, so
  no input reaches an instance whose lock this bot no longer holds;
* every input and every capture is reported (``on_input``, ``on_frame``): stuck and click-loop detection, frozen
  screens, capture latency and the failure evidence's last frames come from there.

Reads (``getprop``, ``foreground_app``, ``pull``, ``window_size``) pass through unfenced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from emufleet.bot.fence import Fence
from emufleet.device.interface import RecoverableDevice, ShellResult

__all__ = ["InputKind", "SupervisedDevice"]

InputKind = str  # "tap" | "swipe" | "key" | "text" | "app_start" | "app_stop" | "shell" | "push" | "reboot"


class SupervisedDevice:
    """``device`` behind ``fence``, reporting inputs and frames. Thread-safe as the wrapped device is.

    Args:
        device: the real device (adbutils-backed :class:`~emufleet.device.Device` or a stand-in).
        fence: checked before every call that can change the device.
        on_input: called after an input was sent, with its kind and, for taps and swipes, the device-pixel point.
        on_frame: called with each captured frame ``(H, W, 3)`` BGR and the capture's latency in milliseconds.
        on_capture_error: called with each failed capture's error and latency (ms); the error is re-raised.
    """

    def __init__(self, device: RecoverableDevice, fence: Fence, *,
                 on_input: Callable[[InputKind, tuple[int, int] | None], None] | None = None,
                 on_frame: Callable[[np.ndarray, float], None] | None = None,
                 on_capture_error: Callable[[BaseException, float], None] | None = None) -> None:
        self.device = device
        self.fence = fence
        self.serial = device.serial
        self._on_input = on_input
        self._on_frame = on_frame
        self._on_capture_error = on_capture_error

    def __getattr__(self, name: str) -> Any:  # reads and anything not supervised: the device's own
        return getattr(self.device, name)

    def __repr__(self) -> str:
        return f"SupervisedDevice({self.device!r})"

    def _sent(self, kind: InputKind, point: tuple[int, int] | None = None) -> None:
        if self._on_input is not None:
            self._on_input(kind, point)

    # -- fenced: everything that can change the device ------------------------------------------------------------
    def tap(self, x: int, y: int) -> None:
        self.fence.check()
        self.device.tap(x, y)
        self._sent("tap", (x, y))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        self.fence.check()
        self.device.swipe(x1, y1, x2, y2, duration_ms)
        self._sent("swipe", (x1, y1))

    def key_event(self, key: str | int) -> None:
        self.fence.check()
        self.device.key_event(key)
        self._sent("key")

    def input_text(self, text: str) -> None:
        self.fence.check()
        self.device.input_text(text)
        self._sent("text")

    def app_start(self, package: str, activity: str | None = None, **kwargs: Any) -> None:
        self.fence.check()
        self.device.app_start(package, activity, **kwargs)
        self._sent("app_start")

    def app_stop(self, package: str) -> None:
        self.fence.check()
        self.device.app_stop(package)
        self._sent("app_stop")

    def shell(self, command: str, **kwargs: Any) -> ShellResult:
        self.fence.check()
        result: ShellResult = self.device.shell(command, **kwargs)
        self._sent("shell")
        return result

    def su(self, command: str, **kwargs: Any) -> ShellResult:
        self.fence.check()
        result: ShellResult = self.device.su(command, **kwargs)
        self._sent("shell")
        return result

    def push(self, data: bytes, remote_path: str, **kwargs: Any) -> None:
        self.fence.check()
        self.device.push(data, remote_path, **kwargs)
        self._sent("push")

    def reboot(self, *, wait: bool = True, timeout_s: float = 120.0) -> None:
        self.fence.check()
        self.device.reboot(wait=wait, timeout_s=timeout_s)
        self._sent("reboot")

    # -- unfenced: recovery's own calls ------------------------------------------------------------------------------
    def reconnect(self, timeout_s: float = 10.0) -> None:
        self.device.reconnect(timeout_s)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        self.device.wait_ready(timeout_s)

    # -- observed: captures -----------------------------------------------------------------------------------------
    def screenshot(self, **kwargs: Any) -> np.ndarray:
        started = time.perf_counter()
        try:
            frame = self.device.screenshot(**kwargs)
        except Exception as exc:
            if self._on_capture_error is not None:
                self._on_capture_error(exc, (time.perf_counter() - started) * 1000.0)
            raise
        if self._on_frame is not None:
            self._on_frame(frame, (time.perf_counter() - started) * 1000.0)
        return frame
