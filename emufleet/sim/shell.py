"""The fake ``/system/bin/sh``: runs parsed command lines against a simulated device (reference §3.6).

Usage::

    result = await Shell(device).run("su -c 'cp /sdcard/a.xml /data/data/pkg/shared_prefs/' && echo ok")
    result.exit_code, result.stdout, result.merged

Commands are plain functions ``fn(ctx, args) -> int`` (or coroutines, for the ones that wait: ``sleep``, latency
faults) registered in :data:`COMMANDS`. An unknown command prints ``/system/bin/sh: X: not found`` on stderr and
exits 127. Output is kept as ordered ``(fd, bytes)`` chunks so that ``shell:`` (v1) can merge stdout and stderr
in order and ``shell,v2:`` can frame them separately.
"""

from __future__ import annotations

import inspect
import posixpath
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from emufleet.sim.files import FsError
from emufleet.sim.shellparse import AndOr, Command, Pipeline, ShellSyntaxError, Word, parse

if TYPE_CHECKING:
    from emufleet.sim.device import DeviceModel

__all__ = ["COMMANDS", "CommandFn", "Context", "IO", "Shell", "ShellExit", "ShellTranscript", "register"]

_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class ShellExit(Exception):
    """``exit N``: unwinds to the enclosing shell (the top level, or an ``sh -c`` / ``su -c``)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Sink(Protocol):
    def write(self, data: bytes) -> None: ...


@dataclass
class OutputSink:
    """The shell's own output: ``(fd, bytes)`` chunks in order."""

    chunks: list[tuple[int, bytes]]
    fd: int

    def write(self, data: bytes) -> None:
        if data:
            self.chunks.append((self.fd, data))


@dataclass
class BufferSink:
    """A pipe or a file redirection: collects bytes."""

    data: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> None:
        self.data += data


class NullSink:
    """``/dev/null``."""

    def write(self, data: bytes) -> None:
        pass


@dataclass
class IO:
    """A command's standard streams: ``stdin`` bytes and fd → sink."""

    stdin: bytes
    fds: dict[int, Sink]

    def out(self, data: bytes | str) -> None:
        self.fds[1].write(data.encode() if isinstance(data, str) else data)

    def err(self, data: bytes | str) -> None:
        self.fds[2].write(data.encode() if isinstance(data, str) else data)


@dataclass(frozen=True, slots=True)
class ShellTranscript:
    """What a simulated command line produced: ordered ``(fd, bytes)`` chunks (fd 1 stdout, 2 stderr) and the exit
    code; the simulator's own record (a real device's answer is :class:`emufleet.device.ShellResult`)."""

    chunks: list[tuple[int, bytes]]
    exit_code: int

    @property
    def stdout(self) -> bytes:
        return b"".join(data for fd, data in self.chunks if fd == 1)

    @property
    def stderr(self) -> bytes:
        return b"".join(data for fd, data in self.chunks if fd == 2)

    @property
    def merged(self) -> bytes:
        """stdout and stderr interleaved in order, as ``shell:`` v1 delivers them."""
        return b"".join(data for _, data in self.chunks)


@dataclass
class Context:
    """What a command gets: the shell (device, root flag, variables), its streams and its own name."""

    shell: Shell
    io: IO
    name: str

    @property
    def device(self) -> DeviceModel:
        return self.shell.device

    @property
    def root(self) -> bool:
        return self.shell.root

    def error(self, message: str, code: int = 1) -> int:
        """Print ``name: message`` on stderr and return ``code``."""
        self.io.err(f"{self.name}: {message}\n")
        return code

    def fs_error(self, exc: FsError) -> int:
        return self.error(str(exc))


CommandFn = Callable[[Context, list[str]], "int | Awaitable[int]"]
COMMANDS: dict[str, CommandFn] = {}


def register(*names: str) -> Callable[[CommandFn], CommandFn]:
    """Decorator: make ``fn`` the command ``names``."""

    def deco(fn: CommandFn) -> CommandFn:
        for name in names:
            COMMANDS[name] = fn
        return fn

    return deco


class Shell:
    """One sh process: variables, ``$?``, and whether it runs as root (``su``)."""

    def __init__(self, device: DeviceModel, *, root: bool = False, env: dict[str, str] | None = None) -> None:
        self.device = device
        self.root = root
        self.status = 0
        self.exited = False  # ``exit`` ran at this shell's top level
        self.env = {"PATH": "/sbin:/system/sbin:/system/bin:/system/xbin", "HOME": "/",
                    "USER": "root" if root else "shell", **(env or {})}

    async def run(self, script: str, stdin: bytes = b"") -> ShellTranscript:
        """Run a command line; returns its output and exit code (a syntax error exits 2, as sh does)."""
        chunks: list[tuple[int, bytes]] = []
        io = IO(stdin, {1: OutputSink(chunks, 1), 2: OutputSink(chunks, 2)})
        code = await self.run_into(script, io)
        return ShellTranscript(chunks, code)

    async def run_into(self, script: str, io: IO) -> int:
        """Run a command line with the given streams (nested ``sh -c``, ``su -c``); returns the exit code."""
        try:
            tree = parse(script)
        except ShellSyntaxError as exc:
            io.err(f"/system/bin/sh: {exc}\n")
            self.status = 2
            return 2
        try:
            for node in tree:
                await self._and_or(node, io)
        except ShellExit as stop:
            self.status = stop.code & 0xFF
            self.exited = True
        return self.status

    async def _and_or(self, node: AndOr, io: IO) -> None:
        self.status = await self._pipeline(node.first, io)
        for op, pipeline in node.rest:
            if (op == "&&") == (self.status == 0):
                self.status = await self._pipeline(pipeline, io)

    async def _pipeline(self, node: Pipeline, io: IO) -> int:
        stdin = io.stdin
        code = 0
        for i, cmd in enumerate(node.commands):
            last = i == len(node.commands) - 1
            pipe = None if last else BufferSink()
            sub = IO(stdin, {**io.fds, 1: pipe} if pipe is not None else dict(io.fds))
            code = await self._command(cmd, sub)
            if pipe is not None:
                stdin = bytes(pipe.data)
        return (0 if code else 1) if node.negate else code

    def expand(self, words: list[Word]) -> list[str]:
        """Parameter expansion, empty-word removal and globbing (against the device's files)."""
        out: list[str] = []
        for word in words:
            text = self._text(word)
            if not text and not word.quoted:
                continue
            if word.glob:
                matches = self.device.files.glob(text, root=self.root)
                if matches:
                    out.extend(matches)
                    continue
            out.append(text)
        return out

    def _text(self, word: Word) -> str:
        return "".join(p if isinstance(p, str) else self._var(p.name) for p in word.parts)

    def _var(self, name: str) -> str:
        special = {"?": str(self.status), "$": "4242", "#": "0", "0": "/system/bin/sh", "!": "", "-": "",
                   "@": "", "*": ""}
        return special[name] if name in special else self.env.get(name, "")

    async def _command(self, cmd: Command, io: IO) -> int:
        # ``NAME=value cmd``: the assignments are that command's environment (alone, they set shell variables);
        # words are expanded before the assignments apply, as sh does.
        n = 0
        while n < len(cmd.words) and (first := cmd.words[n].parts[:1]) and isinstance(first[0], str) \
                and _ASSIGNMENT.match(first[0]):
            n += 1
        assigns = dict(self._text(word).split("=", 1) for word in cmd.words[:n])
        argv = self.expand(cmd.words[n:])
        fds = dict(io.fds)
        stdin = io.stdin
        files = self.device.files
        pending: list[tuple[str, BufferSink, bool]] = []
        for redirect in cmd.redirects:
            target = "".join(self.expand([redirect.target])) or ""
            if redirect.op == ">&":
                if target == "-":
                    fds[redirect.fd] = NullSink()
                elif target.isdigit() and int(target) in fds:
                    fds[redirect.fd] = fds[int(target)]
                else:
                    io.err(f"/system/bin/sh: {target}: bad file descriptor\n")
                    return 1
            elif redirect.op == "<":
                try:
                    stdin = files.read(target, root=self.root)
                except FsError as exc:
                    io.err(f"/system/bin/sh: can't open {exc}\n")
                    return 1
            elif target == "/dev/null":
                fds[redirect.fd] = NullSink()
            else:
                try:
                    files.check_writable(target, root=self.root)
                except FsError as exc:
                    io.err(f"/system/bin/sh: can't create {exc}\n")
                    return 1
                sink = BufferSink()
                fds[redirect.fd] = sink
                pending.append((target, sink, redirect.op == ">>"))
        saved = self.env
        try:
            if not argv:
                self.env.update(assigns)
                return 0
            self.env = {**saved, **assigns}
            return await self.call(argv, IO(stdin, fds))
        finally:
            if argv:
                self.env = saved
            for path, sink, append in pending:
                try:
                    files.write(path, bytes(sink.data), root=self.root, append=append)
                except FsError as exc:
                    io.err(f"/system/bin/sh: can't create {exc}\n")

    async def call(self, argv: list[str], io: IO) -> int:
        """Run one command ``argv`` (already expanded) with ``io``; returns its exit code."""
        name = posixpath.basename(argv[0]) if argv[0].startswith("/") else argv[0]
        fn = COMMANDS.get(name)
        if fn is None:
            io.err(f"/system/bin/sh: {argv[0]}: not found\n")
            return 127
        result = fn(Context(self, io, name), argv[1:])
        if inspect.isawaitable(result):
            result = await result
        return int(result) & 0xFF
