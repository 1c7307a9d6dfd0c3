"""The one boundary between emufleet and adbutils: every adbutils call of the device layer goes through here and
its two helpers, :mod:`~emufleet.device._adberrors` (error translation) and :mod:`~emufleet.device._transport`
(the fast path: ``TCP_NODELAY``, no close sleep, transport-id addressing).

:class:`AdbLink` is the small surface :class:`emufleet.device.Device` needs: server state, connect/disconnect,
shell v2 with exit code, push and pull.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbError

from emufleet.device._adberrors import translate_errors
from emufleet.device._transport import FastAdbClient, TransportDevice, list_devices
from emufleet.errors import DeviceError, DeviceOfflineError

__all__ = ["MAX_REMOTE_PATH", "AdbLink", "LineStream", "ShellOutput"]


@dataclass(frozen=True, slots=True)
class ShellOutput:
    """Raw result of a shell v2 command: stdout, stdout+stderr as received, and the exit code."""

    stdout: bytes
    output: bytes
    exit_code: int


class LineStream:
    """The output lines of a streaming shell command (:meth:`AdbLink.stream`): iterate; ``close()`` ends it."""

    def __init__(self, conn: adbutils.AdbConnection, serial: str) -> None:
        self._conn = conn
        self._serial = serial
        self._closed = False

    def __iter__(self) -> Iterator[str]:
        pending = b""
        while not self._closed:
            try:
                chunk = self._conn.conn.recv(65536)
            except OSError:  # closed under us (close() from another thread) or the device went away
                chunk = b""
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line.decode("utf-8", errors="replace").rstrip("\r")
        if pending and not self._closed:
            yield pending.decode("utf-8", errors="replace")

    def close(self) -> None:
        """End the stream (idempotent; a blocked iteration returns)."""
        self._closed = True
        with contextlib.suppress(OSError):
            self._conn.conn.shutdown(socket.SHUT_RDWR)
        self._conn.close()

    def __enter__(self) -> LineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AdbLink:
    """One device, seen through adbutils on the fast or the stock path. Every method translates errors.

    Args:
        serial: the adb serial (``127.0.0.1:16384``).
        host, port: the adb server (default: ``ANDROID_ADB_SERVER_HOST``/``_PORT``, else 127.0.0.1:5037).
        fast: transport-id addressing over :class:`FastAdbClient` (True), or stock adbutils by serial (False).
        timeout_s: default socket timeout for calls that do not pass their own (sync).
    """

    def __init__(self, serial: str, *, host: str | None = None, port: int | None = None, fast: bool = True,
                 timeout_s: float = 30.0) -> None:
        self.serial = serial
        self.fast = fast
        client_type = FastAdbClient if fast else adbutils.AdbClient
        self.client: adbutils.AdbClient = client_type(host=host, port=port, socket_timeout=timeout_s)
        self._device: adbutils.AdbDevice | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> adbutils.AdbDevice:
        """The adbutils device (made on first use; by transport id on the fast path).

        Raises:
            DeviceOfflineError: fast path only, the serial is not listed as ``device``.
        """
        with self._lock:
            if self._device is None:
                with translate_errors(self.serial, "open device"):
                    self._device = (TransportDevice(self.client, self.serial) if self.fast
                                    else self.client.device(serial=self.serial))
            return self._device

    def forget_transport(self) -> None:
        """Drop the cached adbutils device (after a disconnect/reconnect its transport id changes)."""
        with self._lock:
            self._device = None

    def state(self) -> str | None:
        """The server's state for this serial (``device``, ``offline``, …), or None when not listed."""
        return next((d.state for d in list_devices(self.client) if d.serial == self.serial), None)

    def connect(self, timeout_s: float) -> str:
        """``adb connect``; returns the server's reply text (which reports failures instead of raising)."""
        with translate_errors(self.serial, "adb connect"):
            reply: str = self.client.connect(self.serial, timeout=timeout_s)
            return reply

    def disconnect(self) -> None:
        """``adb disconnect`` (no error when the serial was not connected)."""
        with translate_errors(self.serial, "adb disconnect"):
            self.client.disconnect(self.serial)
        self.forget_transport()

    def shell(self, command: str, timeout_s: float) -> ShellOutput:
        """Run ``command`` over ``shell,v2:``, keeping stdout apart and the exit code.

        The v2 stream is read here rather than by adbutils' ``shell2`` so that a dropped connection is reported
        with what was really received, and a corrupt packet header is not taken for a length to wait for.

        Raises:
            DeviceTimeoutError, DeviceOfflineError (a stream that ended or broke before its exit status).
        """
        with translate_errors(self.serial, f"shell {command[:60]!r}"):
            conn = self.device.open_transport(timeout=timeout_s)
            with conn:
                conn.send_command(f"shell,v2:{command}")
                conn.check_okay()
                return _read_shell_v2(conn.conn)

    def stream(self, command: str, timeout_s: float) -> LineStream:
        """Start ``command`` over ``shell:`` (v1: raw, never-ending output such as ``getevent``) and return its
        output as lines; :meth:`LineStream.close` (from any thread) ends it.

        Raises:
            DeviceTimeoutError, DeviceOfflineError: the stream could not be opened.
        """
        with translate_errors(self.serial, f"shell {command[:60]!r}"):
            conn = self.device.open_transport(timeout=timeout_s)
            try:
                conn.send_command(f"shell:{command}")
                conn.check_okay()
                conn.conn.settimeout(None)  # a person may not touch the screen for minutes
            except BaseException:
                conn.close()
                raise
        return LineStream(conn, self.serial)

    def push(self, data: bytes, remote_path: str, mode: int) -> None:
        """Write ``data`` to ``remote_path`` over sync (SEND); ``mode`` is the permission bits, e.g. 0o644.

        Raises:
            DeviceError: a path adb cannot carry (NUL byte, over :data:`MAX_REMOTE_PATH` bytes, not Unicode),
                checked before anything is sent; the device refused the file (permissions).
            DeviceOfflineError: the connection closed before the device confirmed the write.
        """
        action = f"push {remote_path!r:.80}"
        _check_remote_path(remote_path, action, self.serial)
        with translate_errors(self.serial, action):
            try:
                self.device.sync.push(data, remote_path, mode=mode)
            except AdbError as exc:
                if exc.args == ("",):  # adbutils read an empty status word: the stream was closed
                    raise DeviceOfflineError(f"{action}: the connection closed before the device confirmed the "
                                             f"write of {len(data):,} bytes", serial=self.serial) from exc
                if str(exc) != "FAIL":  # adbutils reads only the status word of a refused SEND
                    raise
                raise DeviceError(f"{action}: refused by the device (permissions?)", serial=self.serial) from exc

    def pull(self, remote_path: str) -> bytes:
        """Read ``remote_path`` over sync (RECV).

        Raises:
            DeviceError: a path adb cannot carry (see :meth:`push`), or the device reports a failure (no such file).
            DeviceOfflineError: the connection dropped mid-transfer.
        """
        action = f"pull {remote_path!r:.80}"
        _check_remote_path(remote_path, action, self.serial)
        with translate_errors(self.serial, action):
            try:
                data: bytes = self.device.sync.read_bytes(remote_path)
                return data
            except AdbError as exc:
                if exc.args[:1] in (("read chunk missing",), ("Invalid sync cmd",)):  # EOF inside the reply
                    raise DeviceOfflineError(f"{action}: the connection dropped mid-transfer",
                                             serial=self.serial) from exc
                if exc.args[-1:] != (remote_path,):  # adbutils raises AdbError(message, path) for a sync FAIL
                    raise
                raise DeviceError(f"{action}: {exc.args[0]}", serial=self.serial) from exc


MAX_REMOTE_PATH = 1024
"""Longest device path adb's sync protocol carries, in UTF-8 bytes."""
_MAX_PACKET = 64 << 20  # a shell v2 packet longer than this is a corrupt header, not data to wait for
_V2_STDOUT, _V2_STDERR, _V2_EXIT = 1, 2, 3


def _check_remote_path(path: str, action: str, serial: str) -> None:
    if not isinstance(path, str) or not path:
        raise DeviceError(f"{action}: a device path is a non-empty string", serial=serial)
    if "\0" in path:
        raise DeviceError(f"{action}: the path contains a NUL byte", serial=serial)
    try:
        size = len(path.encode("utf-8"))
    except UnicodeEncodeError:
        raise DeviceError(f"{action}: the path is not valid Unicode (a lone surrogate)", serial=serial) from None
    if size > MAX_REMOTE_PATH:
        raise DeviceError(f"{action}: the path is {size:,} bytes long; adb carries at most {MAX_REMOTE_PATH}",
                          serial=serial)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    """Up to ``n`` bytes: fewer only when the peer closed the stream."""
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def _read_shell_v2(sock: socket.socket) -> ShellOutput:
    """Read shell v2 packets (``id:u8 length:u32le payload``) up to the exit status.

    Raises:
        EOFError: the stream ended or broke first; the message gives the bytes really received (translated into
            ``DeviceOfflineError`` by :func:`translate_errors`).
    """
    stdout, output = bytearray(), bytearray()
    while True:
        header = _recv_exact(sock, 5)
        if len(header) < 5:
            raise EOFError(f"after {len(output):,} bytes of output, before the exit status")
        kind, length = header[0], int.from_bytes(header[1:], "little")
        if kind > 5 or length > _MAX_PACKET:
            raise EOFError(f"corrupt shell stream after {len(output):,} bytes of output: packet id {kind}, "
                           f"length {length:,}")
        payload = _recv_exact(sock, length)
        if len(payload) < length:
            raise EOFError(f"after {len(output) + len(payload):,} bytes of output: a {length:,}-byte packet was cut "
                           f"after {len(payload):,}")
        if kind == _V2_EXIT:
            return ShellOutput(bytes(stdout), bytes(output), payload[0] if payload else 255)
        if kind == _V2_STDOUT:
            stdout += payload
        if kind in (_V2_STDOUT, _V2_STDERR):
            output += payload
