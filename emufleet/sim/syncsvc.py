"""The ``sync:`` service: file transfer sub-protocol, a byte stream inside one stream (reference §3.5).

Requests are ``id[4] len:u32`` + ``len`` bytes of path and are *not* aligned to WRTEs (adb 29 coalesces
SEND+DATA+DONE into one; adbutils sends each header separately), so everything is read from the stream's buffer.
Transfers run as the ``shell`` user: ``/data/data`` is refused (stage under ``/sdcard`` and ``su -c cp``).
Only the v1/v2 ids the device advertises are served: STAT, STA2, LST2, LIST, LIS2, SEND, RECV, QUIT.
"""

from __future__ import annotations

import errno
import stat as stat_mod
import struct

from emufleet.sim.device import DeviceModel
from emufleet.sim.faults import DropConnection
from emufleet.sim.files import FileStat, FsError
from emufleet.sim.transport import Stream

__all__ = ["sync_service"]

_REQ = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")  # id mode size mtime
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")  # id error dev ino mode nlink uid gid size atime mtime ctime (72 bytes)
_DENT_V1 = struct.Struct("<4sIIII")  # DENT mode size mtime namelen
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")  # DNT2 + v2 stat fields + namelen
_MAX_PATH = 4096
_MAX_CHUNK = 64 * 1024
_SHELL_UID = 2000


def _stat_v2(ident: bytes, st: FileStat | None, error: int = 0, ino: int = 0) -> bytes:
    if st is None:
        return _STAT_V2.pack(ident, error, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return _STAT_V2.pack(ident, 0, 0xFD00, ino, st.mode, 2 if st.is_dir else 1, _SHELL_UID, _SHELL_UID, st.size,
                         st.mtime, st.mtime, st.mtime)


def _fail(message: str) -> bytes:
    data = message.encode()
    return _REQ.pack(b"FAIL", len(data)) + data


async def sync_service(device: DeviceModel, stream: Stream) -> None:
    """Serve sync requests until QUIT or the host closes the stream."""
    files = device.files
    while True:
        ident, length = _REQ.unpack(await stream.read_exactly(_REQ.size))
        if ident == b"QUIT":
            return
        if ident not in (b"STAT", b"STA2", b"LST2", b"LIST", b"LIS2", b"SEND", b"RECV") or length > _MAX_PATH:
            await stream.write(_fail(f"unknown sync request {ident!r}"))
            return
        path = (await stream.read_exactly(length)).decode("utf-8", errors="replace")
        if ident == b"STAT":
            try:
                st = files.stat(path)
                reply = _STAT_V1.pack(b"STAT", st.mode, st.size & 0xFFFFFFFF, st.mtime)
            except FsError:
                reply = _STAT_V1.pack(b"STAT", 0, 0, 0)  # all zeros: adbutils reads mtime 0 as "missing"
            await stream.write(reply)
        elif ident in (b"STA2", b"LST2"):
            try:
                await stream.write(_stat_v2(ident, files.stat(path)))
            except FsError as exc:
                await stream.write(_stat_v2(ident, None, exc.errno or errno.ENOENT))
        elif ident in (b"LIST", b"LIS2"):
            await stream.write(_listing(device, path, v2=ident == b"LIS2"))
        elif ident == b"RECV":
            await _recv(device, stream, path)
        else:
            await _send(device, stream, path)


def _listing(device: DeviceModel, path: str, *, v2: bool) -> bytes:
    files = device.files
    out = bytearray()
    try:
        names = [".", "..", *files.listdir(path)]
    except FsError:
        names = []
    base = files.normalize(path)
    for i, name in enumerate(names):
        try:
            st = files.stat(base if name == "." else f"{base}/{name}")
        except FsError:
            continue
        raw = name.encode()
        if v2:
            out += _DENT_V2.pack(b"DNT2", 0, 0xFD00, i + 1, st.mode, 1, _SHELL_UID, _SHELL_UID, st.size, st.mtime,
                                 st.mtime, st.mtime, len(raw)) + raw
        else:
            out += _DENT_V1.pack(b"DENT", st.mode, st.size & 0xFFFFFFFF, st.mtime, len(raw)) + raw
    out += b"DONE" + bytes((_DENT_V2 if v2 else _DENT_V1).size - 4)  # a full-size, zeroed DONE record
    return bytes(out)


async def _recv(device: DeviceModel, stream: Stream, path: str) -> None:
    try:
        data = device.files.read(path)
    except FsError as exc:
        await stream.write(_fail(f"remote {exc.strerror.lower() if exc.strerror else exc}: {path}"))
        return
    out = bytearray()
    for offset in range(0, len(data), _MAX_CHUNK):
        chunk = data[offset:offset + _MAX_CHUNK]
        out += _REQ.pack(b"DATA", len(chunk)) + chunk
    out += _REQ.pack(b"DONE", 0)
    if device.faults.take_drop("sync"):
        raise DropConnection(bytes(out[: len(out) // 2]))
    await stream.write(bytes(out))


async def _send(device: DeviceModel, stream: Stream, spec: str) -> None:
    path, _, mode_text = spec.rpartition(",")  # the path may hold commas and colons: split on the last comma
    if not path:
        path, mode_text = spec, "33188"
    try:
        mode = int(mode_text)
    except ValueError:
        mode = 0o100644
    data = bytearray()
    while True:
        ident, value = _REQ.unpack(await stream.read_exactly(_REQ.size))
        if ident == b"DATA":
            if value > _MAX_CHUNK:
                await stream.write(_fail(f"DATA chunk of {value} bytes exceeds {_MAX_CHUNK}"))
                return
            data += await stream.read_exactly(value)
        elif ident == b"DONE":
            mtime = value
            break
        else:
            await stream.write(_fail(f"unexpected {ident!r} during SEND"))
            return
    if device.faults.take_drop("sync"):
        raise DropConnection()
    if stat_mod.S_ISLNK(mode):
        await stream.write(_fail("symlinks are not supported by the simulator"))
        return
    try:
        device.files.write(path, bytes(data), make_parents=True, mode=mode)
        if mtime:
            device.files.set_mtime(path, mtime)
    except FsError as exc:
        await stream.write(_fail(f"couldn't create file: {exc.strerror}"))
        return
    await stream.write(_REQ.pack(b"OKAY", 0))
