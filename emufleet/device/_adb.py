"""The one boundary between emufleet and adbutils: every adbutils call of the device layer goes through here.

Two things live here:

* **Error translation.** :func:`translate_errors` maps adbutils and socket errors onto :mod:`emufleet.errors`
  (``raise … from exc``), so nothing above this module sees an ``AdbError``.
* **The fast path** (reference ``adb-device-protocol.md`` §2, §5.10, §6). Stock adbutils addressing a device by
  serial pays ≈ 21 ms per call: an extra ``host:version`` connection, a ``time.sleep(0.01)`` in
  ``AdbConnection.close()``, and Nagle delays on multi-``send()`` sync writes. :class:`FastAdbClient` keeps
  adbutils' own ``AdbConnection`` but enables ``TCP_NODELAY`` and closes without the sleep, and
  :class:`_TransportDevice` addresses the device by ``transport_id`` (resolved once from ``host:devices-l`` and
  re-resolved when the server reports the id stale, i.e. after a reconnect). No adbutils global is patched.

:class:`AdbLink` is the small surface :class:`emufleet.device.Device` needs: server state, connect/disconnect,
shell v2 with exit code, push and pull.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbConnectionError, AdbError, AdbTimeout

from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
)

__all__ = ["MAX_REMOTE_PATH", "AdbLink", "DeviceListing", "FastAdbClient", "LineStream", "ShellOutput", "list_devices",
           "translate_errors"]

# Substrings of adb server replies meaning "the device is not usable right now" (offline, gone, reconnecting).
# "unknown data: b''" is adbutils' check_okay() reading EOF: the server closed the stream as the transport died.
_OFFLINE_MARKERS = ("offline", "not found", "no device", "no devices", "closed", "connection reset", "unauthorized",
                    "unknown data: b''")
_STALE_TRANSPORT = "no device with transport id"
log = logging.getLogger(__name__)


@contextmanager
def translate_errors(serial: str | None, action: str) -> Iterator[None]:
    """Run the block, translating adbutils/socket errors into ``DeviceError`` subclasses.

    Raises:
        DeviceTimeoutError: adbutils ``AdbTimeout`` or a socket timeout.
        DeviceConnectError: the adb server itself cannot be reached.
        DeviceOfflineError: the server says offline / not found, the stream ended early (EOF, reset), or a sync
            reply adbutils only asserts on was missing.
        DeviceError: any other ``AdbError``.
    """
    try:
        yield
    except DeviceError:
        raise
    except AdbTimeout as exc:
        raise DeviceTimeoutError(f"{action}: timed out ({exc})", serial=serial) from exc
    except AdbConnectionError as exc:
        raise DeviceConnectError(f"{action}: adb server unreachable ({exc})", serial=serial) from exc
    except AdbError as exc:
        text = " ".join(str(a) for a in exc.args if isinstance(a, str)) or repr(exc)
        if any(marker in text.lower() for marker in _OFFLINE_MARKERS):
            raise DeviceOfflineError(f"{action}: {text}", serial=serial) from exc
        raise DeviceError(f"{action}: {text}", serial=serial) from exc
    except AssertionError as exc:  # adbutils asserts on sync replies (``assert "STAT" == …``) instead of raising
        raise DeviceOfflineError(f"{action}: the device closed the stream or answered out of protocol",
                                 serial=serial) from exc
    except TimeoutError as exc:  # socket.timeout raised outside adbutils' own wrappers
        raise DeviceTimeoutError(f"{action}: timed out", serial=serial) from exc
    except (EOFError, OSError) as exc:  # the server closed our stream: the device dropped mid-call
        raise DeviceOfflineError(f"{action}: connection dropped ({exc or type(exc).__name__})",
                                 serial=serial) from exc


class _FastConnection(adbutils.AdbConnection):
    """adbutils' connection with ``TCP_NODELAY`` and a close that skips the 10 ms sleep."""

    def _create_socket(self) -> socket.socket:
        sock: socket.socket = super()._create_socket()
        # Small host-protocol messages and sync's DATA headers otherwise wait on Nagle + delayed ACK (§5.10).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def close(self) -> None:
        # The base close() does shutdown(SHUT_WR) then sleep(0.01). Our callers have read their reply, so the
        # socket can go at once; closing it first makes the base shutdown() fail with EBADF, which it catches
        # (skipping the sleep) before it drops its reference.
        if not self.closed:
            self.conn.close()
        super().close()


class FastAdbClient(adbutils.AdbClient):
    """An ``adbutils.AdbClient`` whose connections are :class:`_FastConnection`.

    ``socket_timeout`` (seconds) applies to calls made without their own timeout (sync push/pull).
    """

    def __init__(self, host: str | None = None, port: int | None = None,
                 socket_timeout: float | None = None) -> None:
        super().__init__(host=host, port=port, socket_timeout=socket_timeout)
        self._default_timeout = socket_timeout

    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        try:
            conn = _FastConnection(self.host, self.port)
        except TimeoutError as exc:
            raise AdbTimeout("connect to adb server timeout") from exc
        timeout = timeout or self._default_timeout
        if timeout:
            conn.conn.settimeout(timeout)
        return conn


@dataclass(frozen=True, slots=True)
class DeviceListing:
    """One line of ``adb devices -l``: serial, state (``device``, ``offline``, …), transport id, model."""

    serial: str
    state: str
    transport_id: int | None
    model: str | None


def list_devices(client: adbutils.AdbClient) -> list[DeviceListing]:
    """Every device the adb server knows, offline ones included (``host:devices-l``).

    Raises:
        DeviceConnectError: the adb server cannot be reached.
    """
    with translate_errors(None, "list devices"):
        infos = client.list(extended=True)
    return [DeviceListing(i.serial, i.state, i.transport_id, i.tags.get("model")) for i in infos]


def _resolve_transport_id(client: adbutils.AdbClient, serial: str) -> int:
    """The transport id of ``serial`` (one ``host:devices-l`` round trip).

    Raises:
        DeviceOfflineError: the serial is not listed, or listed in another state than ``device``.
    """
    for info in list_devices(client):
        if info.serial != serial:
            continue
        if info.state != "device" or info.transport_id is None:
            raise DeviceOfflineError(f"state is {info.state!r}", serial=serial)
        return info.transport_id
    raise DeviceOfflineError("not known to the adb server (not connected)", serial=serial)


class _TransportDevice(adbutils.AdbDevice):
    """An ``AdbDevice`` addressed by transport id, re-resolving the id from the serial when it goes stale."""

    # adbutils' attributes this class rewrites (the base is untyped)
    _transport_id: int | None
    _features: set[str]

    def __init__(self, client: adbutils.AdbClient, serial: str) -> None:
        self._adb_serial = serial
        self._resolve_lock = threading.Lock()
        # Both given: adbutils addresses by transport id first, and ``.serial`` stays meaningful.
        super().__init__(client, serial=serial, transport_id=_resolve_transport_id(client, serial))

    def _resolve(self) -> int:
        return _resolve_transport_id(self._client, self._adb_serial)

    def open_transport(self, command: str | None = None, timeout: float | None = 600) -> adbutils.AdbConnection:
        stale = self._transport_id
        try:
            return super().open_transport(command, timeout)
        except AdbError as exc:
            if _STALE_TRANSPORT not in str(exc):
                raise
        # The server never reached the device, so retrying cannot run the command twice.
        with self._resolve_lock:
            if self._transport_id == stale:
                self._transport_id = self._resolve()
                self._features = set()  # adbutils reads it again on the next shell_v2 call
                log.debug("%s: transport id %s is stale, now %s", self._adb_serial, stale, self._transport_id)
        return super().open_transport(command, timeout)


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
                    self._device = (_TransportDevice(self.client, self.serial) if self.fast
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
