"""The fast path to a device (reference ``adb-device-protocol.md`` §2, §5.10, §6).

Stock adbutils addressing a device by serial pays ≈ 21 ms per call: an extra ``host:version`` connection, a
``time.sleep(0.01)`` in ``AdbConnection.close()``, and Nagle delays on multi-``send()`` sync writes.
:class:`FastAdbClient` keeps adbutils' own ``AdbConnection`` but enables ``TCP_NODELAY`` and closes without the sleep,
and :class:`TransportDevice` addresses the device by ``transport_id`` (resolved once from ``host:devices-l`` and
re-resolved when the server reports the id stale, i.e. after a reconnect). No adbutils global is patched.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass

import adbutils
from adbutils.errors import AdbError, AdbTimeout

from emufleet.device._adberrors import STALE_TRANSPORT, translate_errors
from emufleet.errors import DeviceOfflineError

__all__ = ["DeviceListing", "FastAdbClient", "TransportDevice", "list_devices"]

log = logging.getLogger(__name__)


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


class TransportDevice(adbutils.AdbDevice):
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
            if STALE_TRANSPORT not in str(exc):
                raise
        # The server never reached the device, so retrying cannot run the command twice.
        with self._resolve_lock:
            if self._transport_id == stale:
                self._transport_id = self._resolve()
                self._features = set()  # adbutils reads it again on the next shell_v2 call
                log.debug("%s: transport id %s is stale, now %s", self._adb_serial, stale, self._transport_id)
        return super().open_transport(command, timeout)
