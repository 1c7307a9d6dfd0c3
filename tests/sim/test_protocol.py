"""The transport checklist of reference §3.1–§3.3, spoken directly to an instance with a raw socket client."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from emufleet.sim import Simulator
from emufleet.sim.protocol import (
    A_AUTH,
    A_CLSE,
    A_CNXN,
    A_OKAY,
    A_OPEN,
    A_WRTE,
    HEADER,
    VERSION_CHECKSUM,
    VERSION_SKIP_CHECKSUM,
    Message,
    checksum,
    pack,
)
from tests.conftest import find_free_base_port
from tests.sim.helpers import BASIC


class RawHost:
    """A minimal host side of the transport (what the adb server does), for protocol-level assertions."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.checksums = False

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> None:
        self.sock.sendall(pack(command, arg0, arg1, data, with_checksum=self.checksums))

    def recv(self) -> Message:
        header = self._exact(HEADER.size)
        command, arg0, arg1, length, check, magic = HEADER.unpack(header)
        assert magic == command ^ 0xFFFFFFFF
        data = self._exact(length)
        if self.checksums:
            assert check == checksum(data)
        return Message(command, arg0, arg1, data)

    def _exact(self, n: int) -> bytes:
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("closed")
            out += chunk
        return out

    def connect(self, version: int = VERSION_SKIP_CHECKSUM, maxdata: int = 1 << 20) -> Message:
        self.send(A_CNXN, version, maxdata, b"host::features=shell_v2")
        reply = self.recv()
        self.checksums = reply.arg0 == VERSION_CHECKSUM
        return reply

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(instances=1, scenario=BASIC, base_port=find_free_base_port(1)) as simulator:
        yield simulator


@pytest.fixture
def host(sim: Simulator) -> Iterator[RawHost]:
    client = RawHost(sim.instances[0].port)
    yield client
    client.close()


def test_handshake_ignores_messages_before_cnxn(host: RawHost) -> None:
    host.send(A_OPEN, 1, 0, b"shell:echo early\0")  # ignored: nothing is sent before the host's CNXN
    host.send(A_AUTH, 1, 0, b"x" * 20)
    reply = host.connect()
    assert (reply.command, reply.arg0, reply.arg1) == (A_CNXN, VERSION_SKIP_CHECKSUM, 1 << 20)
    assert reply.data.startswith(b"device::ro.product.name=MuMuPlayer;")
    assert reply.data.endswith(b";features=shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir")


def test_stream_lifecycle_and_unknown_service(host: RawHost) -> None:
    host.connect()
    host.send(A_OPEN, 7, 0, b"tcp:5555\0")
    refused = host.recv()
    assert (refused.command, refused.arg0, refused.arg1) == (A_CLSE, 0, 7)
    host.send(A_OPEN, 8, 0, b"shell:echo hi\0")
    okay = host.recv()
    assert (okay.command, okay.arg1) == (A_OKAY, 8) and okay.arg0 != 0
    write = host.recv()
    assert (write.command, write.arg0, write.arg1, write.data) == (A_WRTE, okay.arg0, 8, b"hi\n")
    host.send(A_OKAY, 8, okay.arg0)
    close = host.recv()
    assert (close.command, close.arg0, close.arg1) == (A_CLSE, okay.arg0, 8)


def test_one_outstanding_write_and_host_maxdata(host: RawHost) -> None:
    host.connect(maxdata=4096)
    host.send(A_OPEN, 3, 0, b"exec:screencap\0")
    local = host.recv().arg0
    received = bytearray()
    host.sock.settimeout(0.3)
    while True:
        msg = host.recv()
        if msg.command == A_CLSE:
            break
        assert msg.command == A_WRTE and len(msg.data) <= 4096
        received += msg.data
        with pytest.raises(TimeoutError):  # no second WRTE until this one is acknowledged
            host.recv()
        if len(received) > 3 * 4096:
            host.send(A_CLSE, 3, local)  # the host gives up (without an OKAY): cancelled, no reply
            break
        host.send(A_OKAY, 3, local)
    w, h = struct.unpack("<2I", received[:8])
    assert (w, h) == (540, 960)
    with pytest.raises(TimeoutError):
        host.recv()


def test_checksums_when_the_host_asks_for_them(host: RawHost) -> None:
    reply = host.connect(version=VERSION_CHECKSUM)
    assert reply.arg0 == VERSION_CHECKSUM
    host.send(A_OPEN, 5, 0, b"shell:echo sum\0")
    local = host.recv().arg0
    assert host.recv().data == b"sum\n"  # recv() verifies the device's data_check
    host.send(A_OKAY, 5, local)
    assert host.recv().command == A_CLSE


def test_bad_magic_closes_the_connection(host: RawHost) -> None:
    host.connect()
    host.sock.sendall(HEADER.pack(A_OPEN, 1, 0, 0, 0, 0x12345678))
    with pytest.raises(ConnectionError):
        host.recv()


def test_sync_requests_span_writes(host: RawHost, sim: Simulator) -> None:
    sim.instances[0].write_file("/sdcard/s.txt", b"sync me")
    host.connect()
    host.send(A_OPEN, 9, 0, b"sync:\0")
    local = host.recv().arg0
    request = b"RECV" + struct.pack("<I", len(b"/sdcard/s.txt")) + b"/sdcard/s.txt"
    for piece in (request[:3], request[3:10], request[10:]):  # a request cut across three WRTEs
        host.send(A_WRTE, 9, local, piece)
        assert host.recv().command == A_OKAY
    reply = host.recv()
    assert reply.data == b"DATA" + struct.pack("<I", 7) + b"sync me" + b"DONE" + struct.pack("<I", 0)


def test_interactive_pty_shell_echoes_and_prompts(host: RawHost) -> None:
    host.connect()
    host.send(A_OPEN, 4, 0, b"shell:\0")  # an empty v1 command: adbd's PTY shell
    local = host.recv().arg0
    received = bytearray()

    def until(marker: bytes) -> None:
        while marker not in received:
            msg = host.recv()
            if msg.command == A_OKAY:  # the device acknowledging our typing
                continue
            assert msg.command == A_WRTE
            received.extend(msg.data)
            host.send(A_OKAY, 4, local)

    until(b"$ ")
    host.send(A_WRTE, 4, local, b"echo hx\x7fi\rexit 4\r")  # typed, with a backspace
    until(b"exit 4\r\n")
    assert bytes(received) == b"mumu:/ $ echo hx\b \bi\r\nhi\r\nmumu:/ $ exit 4\r\n"
