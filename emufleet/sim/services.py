"""The services an instance serves on ``OPEN`` (reference §3.4); everything else is refused with CLSE.

=====================  ======================================================================================
``shell:<cmd>``        v1: stdout and stderr merged, raw; no exit code (adbutils uses this for everything)
``shell:``              (empty) an interactive PTY shell
``shell,<opts>:<cmd>`` with ``v2`` in opts: packets ``id:u8 len:u32 data`` (1 stdout, 2 stderr, 3 exit);
                       an empty command is interactive (PTY unless ``raw``)
``exec:<cmd>``         stdout only, raw (``adb exec-out``)
``sync:``              file transfer (:mod:`emufleet.sim.syncsvc`)
``framebuffer:``       version-1 header (13 × uint32) then RGBA
``reboot:[target]``    reboot the instance (connections drop, then adbd down / booting)
``root:``/``unroot:``  the production-build answer, as MuMu's adbd gives it (so ``adb root`` never hangs)
=====================  ======================================================================================

An empty command opens an interactive shell (:mod:`emufleet.sim.interactive`): ``adb shell`` works by hand.
"""

from __future__ import annotations

import struct
from functools import partial

from emufleet.sim import android, commands, filecmds  # noqa: F401 - registers the shell commands
from emufleet.sim.android import capture, corrupt
from emufleet.sim.device import DeviceModel
from emufleet.sim.faults import DropConnection
from emufleet.sim.getevent import stream_events
from emufleet.sim.interactive import interactive_shell
from emufleet.sim.shell import Shell, ShellTranscript
from emufleet.sim.syncsvc import sync_service
from emufleet.sim.transport import Service, ServiceLookup, Stream

__all__ = ["service_lookup"]

_SHELL_V2_EXIT = 3


def service_lookup(device: DeviceModel) -> ServiceLookup:
    """The ``OPEN`` dispatcher of one instance: service name → coroutine function, or ``None`` (refused)."""

    def lookup(name: str) -> Service | None:
        streaming = _getevent(device, name)
        if streaming is not None:
            return streaming
        if name.startswith("shell:"):
            command = name[len("shell:"):]
            if not command.strip():  # adbd gives an empty v1 command a PTY
                return partial(_interactive, device, False, True)
            return partial(_shell, device, command, False)
        if name.startswith("shell,"):
            options, sep, command = name[len("shell,"):].partition(":")
            if not sep:
                return None
            opts = options.split(",")
            if not command.strip():
                return partial(_interactive, device, "v2" in opts, "raw" not in opts)
            return partial(_shell, device, command, "v2" in opts)
        if name.startswith("exec:"):
            return partial(_exec, device, name[len("exec:"):])
        if name == "sync:":
            return partial(sync_service, device)
        if name.startswith("framebuffer:"):
            return partial(_framebuffer, device)
        if name.startswith("reboot:"):
            return partial(_reboot, device)
        if name in ("root:", "unroot:"):
            reply = b"adbd cannot run as root in production builds\n" if name == "root:" \
                else b"adbd not running as root\n"
            return partial(_reply, reply)
        return None

    return lookup


async def _run(device: DeviceModel, command: str) -> ShellTranscript:
    if device.faults.take_drop("shell"):
        raise DropConnection()
    await device.faults.delay("shell")
    return await Shell(device).run(command)


async def _shell(device: DeviceModel, command: str, v2: bool, stream: Stream) -> None:
    result = await _run(device, command)
    if not v2:
        await stream.write(result.merged)
        return
    out = bytearray()
    for fd, data in result.chunks:
        out += struct.pack("<BI", fd, len(data)) + data
    out += struct.pack("<BIB", _SHELL_V2_EXIT, 1, result.exit_code & 0xFF)
    await stream.write(bytes(out))


def _getevent(device: DeviceModel, name: str) -> Service | None:
    """``shell[,v2]:getevent …`` streams until the host closes it (the one command whose output never ends)."""
    head, sep, command = name.partition(":")
    words = command.split()
    if not sep or not words or words[0] != "getevent" or not (head == "shell" or head.startswith("shell,")):
        return None
    return partial(stream_events, device, words[1:], v2="v2" in head.split(","))


async def _interactive(device: DeviceModel, v2: bool, pty: bool, stream: Stream) -> None:
    await interactive_shell(device, stream, v2=v2, pty=pty)


async def _exec(device: DeviceModel, command: str, stream: Stream) -> None:
    result = await _run(device, command)
    await stream.write(result.stdout)


async def _framebuffer(device: DeviceModel, stream: Stream) -> None:
    await device.faults.delay("screencap")
    frame = capture(device)
    # version 1 (adbutils parses version 2 only with colorSpace == 1): bpp, size, w, h, then RGBA offsets/lengths
    header = struct.pack("<13I", 1, 32, len(frame.rgba), frame.width, frame.height, 0, 8, 16, 8, 8, 8, 24, 8)
    data = header + frame.rgba
    if device.faults.corrupt_screen:
        data = corrupt(data)
    if device.faults.take_drop("screencap"):
        raise DropConnection(data[: len(data) // 2])
    await stream.write(data)


async def _reboot(device: DeviceModel, stream: Stream) -> None:
    down_s, boot_s = device.reboot_times
    device.reboot(down_s, boot_s, shutdown_s=0.05)  # CLSE first; connections drop just after


async def _reply(text: bytes, stream: Stream) -> None:
    await stream.write(text)
