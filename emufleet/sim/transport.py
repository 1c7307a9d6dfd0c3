"""The device side of one ADB transport connection: handshake, streams, flow control (reference §3.1–§3.3).

* Nothing is sent before the host's CNXN; anything else before it is ignored. No AUTH: CNXN is answered directly
  (``ro.adb.secure=0``). A ``silent`` instance never answers.
* ``OPEN`` → a service looked up by name: ``OKAY(local, remote)`` and the service runs as a task, or
  ``CLSE(0, remote)`` for an unknown service. The OPEN counts as the host's first READY.
* At most one device ``WRTE`` outstanding per stream: the next waits for the host's OKAY; payloads are cut at the
  host's ``maxdata``. When a service ends, the last WRTE's OKAY is awaited, then ``CLSE`` is sent.
* Host ``WRTE`` → appended to the stream's input buffer and acknowledged; host ``CLSE`` cancels the service.
* Messages for unknown stream ids are ignored; a bad magic or an unknown command closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
from collections.abc import Awaitable, Callable

from emufleet.sim.faults import DropConnection
from emufleet.sim.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_STLS,
    A_SYNC,
    A_WRTE,
    HEADER,
    MAX_PAYLOAD,
    VERSION_SKIP_CHECKSUM,
    Message,
    ProtocolError,
    checksum,
    pack,
)

__all__ = ["Connection", "Service", "ServiceLookup", "Stream", "StreamClosed"]

log = logging.getLogger("emufleet.sim")


class StreamClosed(Exception):
    """The host closed the stream (or the connection went away)."""


class Stream:
    """One open stream: buffered input from the host, flow-controlled output to it."""

    def __init__(self, conn: Connection, local_id: int, remote_id: int, service: str) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.service = service
        self.closed = False
        self._ready = asyncio.Event()
        self._ready.set()  # the OPEN counts as the host's first READY
        self._buffer = bytearray()
        self._readable = asyncio.Event()

    # -- driven by the connection --------------------------------------------------------------------------
    def on_okay(self) -> None:
        self._ready.set()

    def on_write(self, data: bytes) -> None:
        self._buffer += data
        self._readable.set()

    def on_close(self) -> None:
        self.closed = True
        self._ready.set()
        self._readable.set()

    # -- used by services ----------------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        """Send ``data`` as WRTEs of at most ``maxdata`` bytes, one outstanding at a time."""
        step = self.conn.max_payload
        view = memoryview(data)
        for offset in range(0, len(data), step):
            await self._ready.wait()
            if self.closed:
                raise StreamClosed
            self._ready.clear()
            self.conn.send(A_WRTE, self.local_id, self.remote_id, bytes(view[offset:offset + step]))
            await self.conn.drain()

    async def read_exactly(self, n: int) -> bytes:
        """Exactly ``n`` input bytes, across as many host WRTEs as needed; :class:`StreamClosed` at the end."""
        while len(self._buffer) < n:
            if self.closed:
                raise StreamClosed
            self._readable.clear()
            await self._readable.wait()
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    async def read_some(self) -> bytes:
        """Whatever input is buffered (waiting for at least one byte); :class:`StreamClosed` at the end."""
        while not self._buffer:
            if self.closed:
                raise StreamClosed
            self._readable.clear()
            await self._readable.wait()
        out = bytes(self._buffer)
        self._buffer.clear()
        return out

    async def finish(self) -> None:
        """Wait for the OKAY of the last WRTE, then send CLSE."""
        await self._ready.wait()
        if not self.closed:
            self.closed = True
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.conn.forget(self)


Service = Callable[[Stream], Awaitable[None]]
ServiceLookup = Callable[[str], Service | None]


class Connection:
    """One TCP connection from an adb server to an instance.

    Args:
        reader, writer: the accepted socket's streams.
        banner: the CNXN payload (``device::…;features=…``).
        lookup: service name → coroutine function, or ``None`` to refuse it.
        silent: checked when the host's CNXN arrives; ``True`` means never answer (the ``silent`` fault).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, banner: bytes,
                 lookup: ServiceLookup, silent: Callable[[], bool] = lambda: False) -> None:
        self.reader = reader
        self.writer = writer
        self.banner = banner
        self.lookup = lookup
        self.silent = silent
        self.max_payload = MAX_PAYLOAD
        self.checksums = False
        self.is_silent = False
        self.streams: dict[int, Stream] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._ids = itertools.count(1)
        self._aborted = False
        self._connected = False  # the host's CNXN was answered
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- output --------------------------------------------------------------------------------------------
    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        if not self._aborted:
            self.writer.write(pack(command, arg0, arg1, data, with_checksum=self.checksums))

    async def drain(self) -> None:
        if not self._aborted:
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def abort(self) -> None:
        """Cut the TCP connection now (reset, no goodbye): faults, reboot, shutdown."""
        if self._aborted:
            return
        self._aborted = True
        for stream in self.streams.values():
            stream.on_close()
        self.writer.transport.abort()

    def forget(self, stream: Stream) -> None:
        self.streams.pop(stream.local_id, None)
        self._tasks.pop(stream.local_id, None)

    # -- input ---------------------------------------------------------------------------------------------
    async def _read(self) -> Message:
        header = await self.reader.readexactly(HEADER.size)
        command, arg0, arg1, length, check, magic = HEADER.unpack(header)
        if magic != command ^ 0xFFFFFFFF:
            raise ProtocolError(f"bad magic {magic:#x} for command {command:#x}")
        if command not in (A_SYNC, A_CNXN, A_AUTH, A_OPEN, A_OKAY, A_CLSE, A_WRTE, A_STLS):
            raise ProtocolError(f"unknown command {command:#x}")
        if length > MAX_PAYLOAD:
            raise ProtocolError(f"payload of {length} bytes exceeds {MAX_PAYLOAD}")
        data = await self.reader.readexactly(length) if length else b""
        if self.checksums and check != checksum(data):
            raise ProtocolError("data checksum mismatch")
        return Message(command, arg0, arg1, data)

    async def serve(self) -> None:
        """Run the connection until the host closes it, it breaks, or :meth:`abort`."""
        try:
            while True:
                msg = await self._read()
                if msg.command == A_CNXN:
                    self._on_connect(msg)
                elif self.is_silent or not self._connected:
                    continue  # before CNXN (or silent): ignore everything
                else:
                    self._dispatch(msg)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except ProtocolError as exc:
            log.warning("closing connection: %s", exc)
        finally:
            for task in list(self._tasks.values()):
                task.cancel()
            for stream in list(self.streams.values()):
                stream.on_close()
            if not self._aborted:
                self.writer.close()

    def _on_connect(self, msg: Message) -> None:
        if self.is_silent or self.silent():
            self.is_silent = True
            return
        for stream in list(self.streams.values()):  # a new CNXN restarts the transport
            stream.on_close()
        for task in list(self._tasks.values()):
            task.cancel()
        version = min(msg.arg0, VERSION_SKIP_CHECKSUM)
        self.max_payload = max(256, min(msg.arg1, MAX_PAYLOAD))
        self.send(A_CNXN, version, MAX_PAYLOAD, self.banner)
        self.checksums = version < VERSION_SKIP_CHECKSUM
        self._connected = True

    def _dispatch(self, msg: Message) -> None:
        if msg.command == A_OPEN:
            self._open(msg)
            return
        stream = self.streams.get(msg.arg1)
        if stream is None or stream.remote_id != msg.arg0:
            return  # unknown ids are ignored
        if msg.command == A_OKAY:
            stream.on_okay()
        elif msg.command == A_WRTE:
            stream.on_write(msg.data)
            self.send(A_OKAY, stream.local_id, stream.remote_id)
        elif msg.command == A_CLSE:
            stream.on_close()
            task = self._tasks.get(stream.local_id)
            if task is not None:
                task.cancel()
            self.forget(stream)

    def _open(self, msg: Message) -> None:
        name = msg.data.rstrip(b"\0").decode("utf-8", errors="replace")
        service = self.lookup(name)
        if service is None:
            self.send(A_CLSE, 0, msg.arg0)
            return
        stream = Stream(self, next(self._ids), msg.arg0, name)
        self.streams[stream.local_id] = stream
        self.send(A_OKAY, stream.local_id, stream.remote_id)
        self._tasks[stream.local_id] = asyncio.get_running_loop().create_task(self._run(service, stream))

    async def _run(self, service: Service, stream: Stream) -> None:
        try:
            await service(stream)
        except StreamClosed:
            self.forget(stream)
            return
        except DropConnection as drop:
            if drop.partial and not stream.closed:
                self.send(A_WRTE, stream.local_id, stream.remote_id, drop.partial[: self.max_payload])
                await self.drain()
            self.abort()
            return
        except asyncio.CancelledError:
            self.forget(stream)
            raise
        except Exception:  # a bug in a service must not take the transport down
            log.exception("service %r failed", stream.service)
        await stream.finish()
