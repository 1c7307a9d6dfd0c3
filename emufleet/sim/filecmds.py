"""File commands of the fake shell: cat, touch, cp, mv, rm, mkdir, chmod, chown, ls (toybox messages).

File access goes through :class:`~emufleet.sim.files.FileTree` with the shell's root flag, so ``/data/data`` needs
``su`` (reference §5.14).
"""

from __future__ import annotations

import errno
import posixpath
import re
import stat as stat_mod
import time
from collections.abc import Callable, Iterable

from emufleet.sim.commands import split_flags
from emufleet.sim.files import FsError
from emufleet.sim.shell import Context, register

__all__: list[str] = []


def _each(ctx: Context, paths: Iterable[str], op: Callable[[str], object], *, missing_ok: bool = False) -> int:
    """``op(path)`` for every path; each FsError is reported and the rest still run (toybox). Exit status 0 or 1.

    ``missing_ok``: a missing path is no error (``rm -f``).
    """
    code = 0
    for path in paths:
        try:
            op(path)
        except FsError as exc:
            if not (missing_ok and exc.errno == errno.ENOENT):
                code = ctx.fs_error(exc)
    return code


def _options(ctx: Context, args: list[str], known: str, needs: int) -> tuple[set[str], list[str]] | int:
    """Leading flags (letters of ``known``) and at least ``needs`` operands, or the exit status of the error."""
    parsed = split_flags(args, known)
    if isinstance(parsed, str):
        return ctx.error(f"Unknown option '{parsed}'")
    if len(parsed[1]) < needs:
        return ctx.error(f"Needs {needs} argument" + "s" * (needs > 1))
    return parsed


@register("cat")
def _cat(ctx: Context, args: list[str]) -> int:
    def cat(path: str) -> None:
        ctx.io.out(ctx.io.stdin if path == "-" else ctx.device.files.read(path, root=ctx.root))

    return _each(ctx, args or ["-"], cat)


@register("touch")
def _touch(ctx: Context, args: list[str]) -> int:
    files = ctx.device.files

    def touch(path: str) -> None:
        if files.exists(path, root=ctx.root):
            files.set_mtime(path, int(time.time()))
        else:
            files.write(path, b"", root=ctx.root)

    return _each(ctx, (a for a in args if not a.startswith("-")), touch)


@register("cp")
def _cp(ctx: Context, args: list[str]) -> int:
    parsed = _options(ctx, args, "rRfpaHLPdn", needs=2)
    if isinstance(parsed, int):
        return parsed
    flags, paths = parsed
    recursive = bool(flags & {"r", "R", "a"})
    return _each(ctx, paths[:-1], lambda src: ctx.device.files.copy(src, paths[-1], root=ctx.root,
                                                                    recursive=recursive))


@register("mv")
def _mv(ctx: Context, args: list[str]) -> int:
    parsed = _options(ctx, args, "fin", needs=2)
    if isinstance(parsed, int):
        return parsed
    _, paths = parsed
    return _each(ctx, paths[:-1], lambda src: ctx.device.files.move(src, paths[-1], root=ctx.root))


@register("rm")
def _rm(ctx: Context, args: list[str]) -> int:
    parsed = _options(ctx, args, "rRfiv", needs=0)
    if isinstance(parsed, int):
        return parsed
    flags, paths = parsed
    if not paths and "f" not in flags:
        return ctx.error("Needs 1 argument")
    recursive = bool(flags & {"r", "R"})
    return _each(ctx, paths, lambda path: ctx.device.files.remove(path, root=ctx.root, recursive=recursive),
                 missing_ok="f" in flags)


@register("mkdir")
def _mkdir(ctx: Context, args: list[str]) -> int:
    rest, parents = [], False
    it = iter(args)
    for arg in it:
        if arg == "-p":
            parents = True
        elif arg == "-m":
            next(it, None)
        else:
            rest.append(arg)
    if not rest:
        return ctx.error("Needs 1 argument")
    return _each(ctx, rest, lambda path: ctx.device.files.mkdir(path, root=ctx.root, parents=parents))


@register("chmod")
def _chmod(ctx: Context, args: list[str]) -> int:
    rest = [a for a in args if a not in ("-R", "-f", "-v")]
    if len(rest) < 2:
        return ctx.error("Needs 2 arguments")
    mode, files = rest[0], ctx.device.files

    def chmod(path: str) -> None:
        if re.fullmatch(r"[0-7]{1,4}", mode):
            files.chmod(path, int(mode, 8), root=ctx.root)
        elif not files.exists(path, root=ctx.root):  # symbolic modes: accepted, not modelled
            raise FsError(errno.ENOENT, path)

    return _each(ctx, rest[1:], chmod)


@register("chown", "chgrp", "restorecon")
def _chown(ctx: Context, args: list[str]) -> int:
    rest = [a for a in args if not a.startswith("-")]
    paths = rest if ctx.name == "restorecon" else rest[1:]
    if not paths:
        return ctx.error("Needs 2 arguments" if ctx.name != "restorecon" else "Needs 1 argument")
    if ctx.name != "restorecon" and not ctx.root:
        return ctx.error(f"{paths[0]}: Operation not permitted")
    code = 0
    for path in paths:
        if not ctx.device.files.exists(path, root=ctx.root):
            code = ctx.error(f"{path}: No such file or directory")
    return code


@register("ls")
def _ls(ctx: Context, args: list[str]) -> int:
    parsed = _options(ctx, args, "laA1dhRtrSsnF", needs=0)
    if isinstance(parsed, int):
        return parsed
    flags, paths = parsed
    files = ctx.device.files
    code = 0
    for path in paths or ["/"]:
        try:
            info = files.stat(path, root=ctx.root)
            if info.is_dir and "d" not in flags:
                names = files.listdir(path, root=ctx.root)
                if "a" in flags:
                    names = [".", "..", *names]
                entries = [(n, posixpath.join(files.normalize(path), n)) for n in names]
            else:
                entries = [(path, path)]
        except FsError as exc:
            code = ctx.fs_error(exc)
            continue
        if len(paths) > 1 and info.is_dir and "d" not in flags:
            ctx.io.out(f"{path}:\n")
        for name, full in entries:
            if "l" in flags:
                st = files.stat(full, root=True)
                when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(st.mtime))
                owner = "root" if files.needs_root(full) else "shell"
                ctx.io.out(f"{stat_mod.filemode(st.mode)} 1 {owner} {owner} {st.size:>8} {when} {name}\n")
            else:
                ctx.io.out(f"{name}\n")
    return code
