"""The interactive shell: ``adb shell`` with no command (``shell:``, ``shell,v2,pty:`` or ``shell,v2,raw:``).

With a PTY (``adb shell`` from a terminal) the device echoes what is typed, handles backspace, Ctrl-C and Ctrl-D,
prints a prompt (``$`` as the shell user, ``#`` after ``su``) and turns ``\\n`` into ``\\r\\n``. Without one
(``echo id | adb shell``) each input line runs silently and the session ends at end of input. ``exit [N]`` ends
it; with shell protocol v2 the last exit code is sent.
"""

from __future__ import annotations

import struct

from emufleet.sim.device import DeviceModel
from emufleet.sim.shell import Shell
from emufleet.sim.transport import Stream

__all__ = ["interactive_shell"]

_STDIN, _STDOUT, _EXIT, _CLOSE_STDIN = 0, 1, 3, 4
_PACKET = struct.Struct("<BI")


class _Session:
    def __init__(self, device: DeviceModel, stream: Stream, *, v2: bool, pty: bool) -> None:
        self.stream = stream
        self.v2 = v2
        self.pty = pty
        self.user = Shell(device)
        self.root = Shell(device, root=True)
        self.shell = self.user
        self.line = bytearray()

    async def out(self, data: bytes) -> None:
        if self.pty:
            data = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        if data:
            await self.stream.write(_PACKET.pack(_STDOUT, len(data)) + data if self.v2 else data)

    async def prompt(self) -> None:
        if self.pty:
            await self.out(b"mumu:/ # " if self.shell.root else b"mumu:/ $ ")

    async def read(self) -> bytes | None:
        """The next stdin bytes, or ``None`` at end of input."""
        if not self.v2:
            return await self.stream.read_some()
        while True:
            kind, length = _PACKET.unpack(await self.stream.read_exactly(_PACKET.size))
            data = await self.stream.read_exactly(length) if length else b""
            if kind == _STDIN:
                return data
            if kind == _CLOSE_STDIN:
                return None
            # 5 = window size change: nothing to resize

    async def run_line(self) -> bool:
        """Run the typed line; ``True`` when the session must end."""
        command = self.line.decode(errors="replace")
        self.line.clear()
        if command.strip() == "su":
            self.shell = self.root  # an interactive `su` switches the session to root
            return False
        result = await self.shell.run(command)
        await self.out(result.merged)
        if self.shell.exited:
            if self.shell is self.root:  # `exit` leaves su first, as sh does
                self.shell, self.root.exited = self.user, False
                return False
            return True
        return False

    async def serve(self) -> None:
        await self.prompt()
        while True:
            data = await self.read()
            if data is None:  # end of input: a last unterminated line still runs
                if self.line:
                    await self.run_line()
                break
            if await self.feed(data):
                break
        if self.v2:
            await self.stream.write(_PACKET.pack(_EXIT, 1) + bytes([self.shell.status & 0xFF]))

    async def feed(self, data: bytes) -> bool:
        for byte in data:
            if byte in (0x0D, 0x0A):
                if self.pty:
                    await self.out(b"\n")
                if await self.run_line():
                    return True
                await self.prompt()
            elif not self.pty:
                self.line.append(byte)
            elif byte in (0x7F, 0x08):
                if self.line:
                    self.line.pop()
                    await self.out(b"\b \b")
            elif byte == 0x03:
                self.line.clear()
                await self.out(b"^C\n")
                await self.prompt()
            elif byte == 0x04:
                if not self.line:
                    return True
            else:
                self.line.append(byte)
                await self.out(bytes([byte]))
        return False


async def interactive_shell(device: DeviceModel, stream: Stream, *, v2: bool, pty: bool) -> None:
    """Serve one interactive session on ``stream`` until ``exit``, Ctrl-D or end of input."""
    await _Session(device, stream, v2=v2, pty=pty).serve()
