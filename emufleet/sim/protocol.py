"""ADB transport framing: the 24-byte message header and its constants (reference §3.1–§3.2).

A message is six little-endian ``uint32`` — ``command, arg0, arg1, data_length, data_check, magic`` — followed by
``data_length`` payload bytes. ``magic == command ^ 0xFFFFFFFF``; ``data_check`` is the byte *sum* of the payload
(not a CRC), checked only when the negotiated version is :data:`VERSION_CHECKSUM`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "A_AUTH", "A_CLSE", "A_CNXN", "A_OKAY", "A_OPEN", "A_STLS", "A_SYNC", "A_WRTE", "COMMAND_NAMES",
    "DEVICE_FEATURES", "HEADER", "MAX_PAYLOAD", "Message", "ProtocolError", "VERSION_CHECKSUM",
    "VERSION_SKIP_CHECKSUM", "checksum", "device_banner", "pack",
]

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453

COMMAND_NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY",
                 A_CLSE: "CLSE", A_WRTE: "WRTE", A_STLS: "STLS"}

VERSION_CHECKSUM = 0x01000000
VERSION_SKIP_CHECKSUM = 0x01000001
MAX_PAYLOAD = 1024 * 1024
HEADER = struct.Struct("<6I")

# Advertise only what is implemented (reference §3.2): no sendrecv_v2, no delayed_ack.
DEVICE_FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir")


class ProtocolError(Exception):
    """A malformed message (bad magic, unknown command): the connection is closed."""


@dataclass(frozen=True, slots=True)
class Message:
    """One decoded transport message."""

    command: int
    arg0: int
    arg1: int
    data: bytes = b""

    @property
    def name(self) -> str:
        return COMMAND_NAMES.get(self.command, f"0x{self.command:08x}")


def checksum(data: bytes) -> int:
    """The header's ``data_check``: the byte sum of ``data`` modulo 2**32."""
    return sum(data) & 0xFFFFFFFF


def pack(command: int, arg0: int, arg1: int, data: bytes = b"", *, with_checksum: bool = False) -> bytes:
    """Encode one message (header + payload). ``with_checksum`` for peers at :data:`VERSION_CHECKSUM`."""
    check = checksum(data) if with_checksum else 0
    return HEADER.pack(command, arg0, arg1, len(data), check, command ^ 0xFFFFFFFF) + data


def device_banner(product: str, model: str, device: str) -> bytes:
    """The CNXN payload ``device::ro.product.name=…;ro.product.model=…;ro.product.device=…;features=…``."""
    props = f"ro.product.name={product};ro.product.model={model};ro.product.device={device};"
    return f"device::{props}features={','.join(DEVICE_FEATURES)}".encode()
