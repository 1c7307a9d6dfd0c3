"""``Device``: one Android device (MuMu instance, simulator, phone) driven through adbutils.

Usage::

    dev = connect("127.0.0.1:16384", timeout_s=10)
    dev.wait_ready(timeout_s=60)
    frame = dev.screenshot()            # (960, 540, 3) uint8 BGR
    dev.tap(270, 480)

Every adbutils call goes through :mod:`emufleet.device._adb` (errors translated there); methods return
emufleet types. Coordinates are device pixels; durations are milliseconds where the name says ``_ms`` and
seconds where it says ``_s``.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

import numpy as np

from emufleet.device import _commands as cmd
from emufleet.device._adb import AdbLink, LineStream
from emufleet.device._screen import BlackFrameError, FrameError, check_frame, decode_png, decode_raw
from emufleet.device._transport import DeviceListing, FastAdbClient
from emufleet.device._transport import list_devices as _list_devices
from emufleet.device.interface import ShellResult
from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
    ScreenshotError,
    ShellError,
)

if TYPE_CHECKING:
    import adbutils

__all__ = ["Device", "DeviceListing", "connect", "list_devices"]

ScreenshotMethod = Literal["raw", "png"]
_POLL_S = 0.1
log = logging.getLogger(__name__)


class Device:
    """An adbutils-backed device implementing :class:`emufleet.device.interface.DeviceLike`.

    Args:
        serial: adb serial, ``127.0.0.1:PORT`` for emulators.
        adb_host, adb_port: the adb server (default from ``ANDROID_ADB_SERVER_HOST``/``_PORT``, else :5037).
        fast: the fast path (transport id, ``TCP_NODELAY``, no close sleep; reference §6). ``False`` uses stock
            adbutils by serial, kept for comparison and as a fallback.
        timeout_s: default per-call timeout in seconds.
        screenshot_method: ``"raw"`` (``screencap``, no PNG encoding on the device; falls back to PNG) or
            ``"png"`` (``screencap -p``).

    Every method may raise :class:`~emufleet.errors.DeviceError` subclasses: ``DeviceOfflineError`` (offline,
    not connected, dropped mid-call), ``DeviceTimeoutError``, ``ShellError`` (non-zero exit where checked).
    """

    def __init__(self, serial: str, *, adb_host: str | None = None, adb_port: int | None = None,
                 fast: bool = True, timeout_s: float = 30.0, screenshot_method: ScreenshotMethod = "raw") -> None:
        self.serial = serial
        self.timeout_s = timeout_s
        self.screenshot_method: ScreenshotMethod = screenshot_method
        self._link = AdbLink(serial, host=adb_host, port=adb_port, fast=fast, timeout_s=timeout_s)

    def __repr__(self) -> str:
        return f"Device({self.serial!r}, fast={self._link.fast})"

    @property
    def adb_device(self) -> adbutils.AdbDevice:
        """Escape hatch: the raw ``adbutils.AdbDevice`` (errors from it are *not* translated)."""
        return self._link.device

    @property
    def is_network(self) -> bool:
        """True for ``host:port`` serials, which need ``adb connect`` (emulators, MuMu)."""
        host, _, port = self.serial.rpartition(":")
        return bool(host) and port.isdigit()

    # -- connection and readiness -------------------------------------------------------------------------

    def state(self) -> str | None:
        """The adb server's state for this serial (``device``, ``offline``, …), None when not listed."""
        return self._link.state()

    def connect(self, timeout_s: float = 10.0) -> None:
        """``adb connect`` (network serials), then wait until the server lists the serial as ``device``.

        Raises:
            DeviceConnectError: the server answered "failed/unable to connect" (adbutils returns that text
                instead of raising, reference §5.9), or the serial stayed offline (no handshake) until the timeout.
        """
        deadline = time.monotonic() + timeout_s
        if self.is_network:
            try:
                reply = self._link.connect(timeout_s)
            except DeviceTimeoutError as exc:
                raise DeviceConnectError(f"adb connect timed out after {timeout_s} s", serial=self.serial) from exc
            # adbutils returns the server's text whatever happened: "connected to X", "already connected to X",
            # or "failed/unable/cannot connect to X: …".
            if not reply.startswith(("connected to", "already connected to")):
                raise DeviceConnectError(f"adb connect: {reply.strip()}", serial=self.serial)
        state = self.state()
        while state != "device":
            if time.monotonic() >= deadline:
                raise DeviceConnectError(f"still {state or 'not listed'} {timeout_s} s after connect "
                                         "(no handshake)", serial=self.serial)
            time.sleep(_POLL_S)
            state = self.state()
        self._link.forget_transport()

    def disconnect(self) -> None:
        """``adb disconnect`` this serial (no error if it was not connected)."""
        self._link.disconnect()

    def reconnect(self, timeout_s: float = 10.0) -> None:
        """Disconnect + connect: what ALAS does for an ``offline`` device (reference §5.6)."""
        self.disconnect()
        self.connect(timeout_s)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        """Block until the device is usable: listed ``device``, ``echo`` answers, ``sys.boot_completed == "1"``.

        An ``offline`` or unlisted network serial is disconnected and reconnected (the server forgets
        ``adb connect``-ed devices when it restarts and leaves rebooted ones offline, reference §5.5–5.7).
        Right after a reboot the old system may still say ``boot_completed=1``: use :meth:`reboot`, which waits
        for the device to go down first (§5.8). The seed checked only ``echo`` (digest §8).

        Raises:
            DeviceTimeoutError: not ready within ``timeout_s``; the message says what was last seen.
        """
        deadline = time.monotonic() + timeout_s
        seen = "nothing checked yet"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DeviceTimeoutError(f"not ready after {timeout_s} s: {seen}", serial=self.serial)
            try:
                seen = self._readiness(min(remaining, 10.0))
            except DeviceError as exc:
                seen = str(exc)
            if seen == "ready":
                return
            time.sleep(min(_POLL_S, max(0.0, deadline - time.monotonic())))

    def _readiness(self, timeout_s: float) -> str:
        """One readiness probe: ``"ready"`` or what is missing (reconnecting when offline or unlisted)."""
        state = self.state()
        if state != "device":
            if state is not None and state != "offline":
                return f"state {state}"
            if not self.is_network:
                return f"state {state or 'not listed'}"
            log.info("%s: %s, reconnecting", self.serial, state or "not listed")
            self.reconnect(timeout_s)
        echo = self.shell("echo ready", timeout_s=timeout_s)
        if echo.output.strip() != "ready":
            return f"echo answered {echo.output.strip()[:40]!r}"
        booted = self.getprop("sys.boot_completed", timeout_s=timeout_s)
        return "ready" if booted == "1" else f"sys.boot_completed is {booted!r}"

    def reboot(self, *, wait: bool = True, timeout_s: float = 120.0) -> None:
        """Reboot; with ``wait``, first wait for the device to go down, then :meth:`wait_ready`.

        Going down means offline, unlisted, a failing call, or ``sys.boot_completed`` other than "1"
        (the reboot race, reference §5.8).

        Raises:
            DeviceTimeoutError: the device did not go down, or was not ready again, within ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        try:
            self.shell("reboot", timeout_s=min(timeout_s, 10.0))
        except DeviceOfflineError:
            pass  # the device dropped the stream as it went down
        if not wait:
            return
        while not self._went_down():
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError(f"reboot requested but the device did not go down in {timeout_s} s",
                                         serial=self.serial)
            time.sleep(0.02)
        self.wait_ready(max(0.1, deadline - time.monotonic()))

    def _went_down(self) -> bool:
        try:
            return self.state() != "device" or self.getprop("sys.boot_completed", timeout_s=2.0) != "1"
        except DeviceError:
            return True

    # -- shell ------------------------------------------------------------------------------------------------

    def shell(self, command: str, *, timeout_s: float | None = None, check: bool = False) -> ShellResult:
        """Run ``command`` in the device's shell (``shell,v2``); output is stdout+stderr decoded as UTF-8.

        Raises:
            ShellError: ``check`` and a non-zero exit code (carries ``exit_code`` and ``output``).
        """
        raw = self._link.shell(command, timeout_s or self.timeout_s)
        result = ShellResult(raw.output.decode("utf-8", errors="replace"), raw.exit_code)
        if check and result.exit_code != 0:
            raise ShellError(f"{command[:80]!r} exited {result.exit_code}: {result.output.strip()[:200]}",
                             serial=self.serial, exit_code=result.exit_code, output=result.output)
        return result

    def stream(self, command: str, *, timeout_s: float | None = None) -> LineStream:
        """Start a never-ending command (``getevent -lt``) and read its output lines as they come; close the
        returned :class:`LineStream` (a context manager) to end it. Raises ``DeviceError`` when it cannot start."""
        return self._link.stream(command, timeout_s or self.timeout_s)

    def su(self, command: str, *, timeout_s: float | None = None, check: bool = True) -> ShellResult:
        """Run ``command`` as root through ``su -c '<command>'`` (MuMu's root setting must be on)."""
        return self.shell(cmd.su_command(command), timeout_s=timeout_s, check=check)

    def getprop(self, name: str, *, timeout_s: float | None = None) -> str:
        """``getprop name``, stripped (``""`` for an unset property)."""
        return self.shell(cmd.getprop_command(name), timeout_s=timeout_s, check=True).output.strip()

    # -- input ------------------------------------------------------------------------------------------------

    def tap(self, x: int, y: int) -> None:
        """Tap device pixel ``(x, y)``."""
        self.shell(f"input tap {int(x)} {int(y)}", check=True)

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        """Swipe from ``(x1, y1)`` to ``(x2, y2)`` (device pixels) over ``duration_ms`` milliseconds."""
        self.shell(f"input swipe {int(x1)} {int(y1)} {int(x2)} {int(y2)} {int(duration_ms)}", check=True,
                   timeout_s=self.timeout_s + duration_ms / 1000)

    def key_event(self, key: str | int) -> None:
        """``input keyevent`` with ``"KEYCODE_BACK"``, ``"BACK"`` or a numeric code."""
        self.shell(cmd.key_event_command(key), check=True)

    def input_text(self, text: str) -> None:
        """Type ``text`` literally: shell metacharacters (``; rm -rf /``, quotes, ``$()``, ``&&``) are typed.

        Raises:
            InputError: text ``input`` cannot type (non-ASCII, ``%s``; see ``_commands.input_text_command``).
        """
        self.shell(cmd.input_text_command(text), check=True)

    # -- apps -------------------------------------------------------------------------------------------------

    def app_start(self, package: str, activity: str | None = None, *, flags: str | None = None) -> None:
        """Start ``package`` (``am start -W -n pkg/act [-f flags]``, or its launcher intent without activity)."""
        self.shell(cmd.app_start_command(package, activity, flags), check=True)

    def app_stop(self, package: str) -> None:
        """``am force-stop package``."""
        self.shell(cmd.app_stop_command(package), check=True)

    def foreground_app(self) -> str | None:
        """The package of the focused window (``dumpsys window``), or None when nothing is focused."""
        return cmd.parse_foreground_app(self.shell("dumpsys window", check=True).output)

    # -- files ------------------------------------------------------------------------------------------------

    def push(self, data: bytes, remote_path: str, *, mode: int = 0o644) -> None:
        """Write ``data`` to ``remote_path`` over sync (parent folders are created by the device).

        Paths with colons work (``deviceAccount:.xml``: SEND splits on the last comma, reference §5.13).
        Raises ``DeviceError`` when the device refuses (e.g. ``/data/data`` without root: stage and ``su cp``).
        """
        self._link.push(bytes(data), remote_path, mode)

    def pull(self, remote_path: str) -> bytes:
        """The bytes of ``remote_path``; ``DeviceError`` if it does not exist or cannot be read."""
        return self._link.pull(remote_path)

    # -- screen -----------------------------------------------------------------------------------------------

    def window_size(self) -> tuple[int, int]:
        """``(width, height)`` in device pixels from ``wm size`` (override size first)."""
        output = self.shell("wm size", check=True).output
        try:
            return cmd.parse_window_size(output)
        except ValueError as exc:
            raise DeviceError(str(exc), serial=self.serial) from exc

    def screenshot(self, *, allow_black: bool = False) -> np.ndarray:
        """A fresh frame, ``(H, W, 3)`` uint8 **BGR** in device pixels (``(960, 540, 3)`` on MuMu).

        ``raw`` method: ``screencap`` (RGBA, last ``w·h·4`` bytes), falling back to ``screencap -p`` when the raw
        capture is unusable; ``png``: ``screencap -p`` only.

        Raises:
            ScreenshotError: truncated or undecodable by every method, or entirely black (unless
                ``allow_black``).
        """
        errors: list[str] = []
        methods = ("raw", "png") if self.screenshot_method == "raw" else ("png",)
        for method in methods:
            data = self._link.shell("screencap" if method == "raw" else "screencap -p", self.timeout_s)
            try:
                if data.exit_code != 0:
                    raise FrameError(f"screencap exited {data.exit_code}: {data.output[-200:]!r}")
                frame = decode_raw(data.stdout) if method == "raw" else decode_png(data.stdout)
                return check_frame(frame, allow_black=allow_black)
            except BlackFrameError as exc:  # decoded fine: another method would see the same black screen
                raise ScreenshotError(str(exc), serial=self.serial) from exc
            except FrameError as exc:
                errors.append(str(exc))
        raise ScreenshotError("; ".join(errors), serial=self.serial)


def connect(serial: str, timeout_s: float = 10.0, *, adb_host: str | None = None, adb_port: int | None = None,
            fast: bool = True, call_timeout_s: float = 30.0,
            screenshot_method: ScreenshotMethod = "raw") -> Device:
    """Make a :class:`Device` and :meth:`Device.connect` it (``call_timeout_s`` becomes its ``timeout_s``).

    Raises:
        DeviceConnectError: see :meth:`Device.connect`.
    """
    device = Device(serial, adb_host=adb_host, adb_port=adb_port, fast=fast, timeout_s=call_timeout_s,
                    screenshot_method=screenshot_method)
    device.connect(timeout_s)
    return device


def list_devices(*, adb_host: str | None = None, adb_port: int | None = None) -> list[DeviceListing]:
    """Every device the adb server knows (``adb devices -l``), offline ones included.

    Raises:
        DeviceConnectError: the adb server cannot be reached.
    """
    return _list_devices(FastAdbClient(host=adb_host, port=adb_port))
