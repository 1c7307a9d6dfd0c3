"""File commands of the fake shell: cat, touch, cp, mv, rm, mkdir, chmod, chown, ls (toybox messages).

File access goes through :class:`~emufleet.sim.files.FileTree` with the shell's root flag, so ``/data/data`` needs
``su`` (reference §5.14).
"""

from __future__ import annotations

import posixpath
import re
import stat as stat_mod
import time

from emufleet.sim.commands import split_flags
from emufleet.sim.files import FsError
from emufleet.sim.shell import Context, register

__all__: list[str] = []


@register("cat")
def _cat(ctx: Context, args: list[str]) -> int:
    code = 0
    for path in args or ["-"]:
        if path == "-":
            ctx.io.out(ctx.io.stdin)
            continue
        try:
            ctx.io.out(ctx.device.files.read(path, root=ctx.root))
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


@register("touch")
def _touch(ctx: Context, args: list[str]) -> int:
    code = 0
    files = ctx.device.files
    for path in (a for a in args if not a.startswith("-")):
        try:
            if files.exists(path, root=ctx.root):
                files.set_mtime(path, int(time.time()))
            else:
                files.write(path, b"", root=ctx.root)
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


@register("cp")
def _cp(ctx: Context, args: list[str]) -> int:
    parsed = split_flags(args, "rRfpaHLPdn")
    if isinstance(parsed, str):
        return ctx.error(f"Unknown option '{parsed}'")
    flags, paths = parsed
    if len(paths) < 2:
        return ctx.error("Needs 2 arguments")
    code = 0
    for src in paths[:-1]:
        try:
            ctx.device.files.copy(src, paths[-1], root=ctx.root, recursive=bool(flags & {"r", "R", "a"}))
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


@register("mv")
def _mv(ctx: Context, args: list[str]) -> int:
    parsed = split_flags(args, "fin")
    if isinstance(parsed, str):
        return ctx.error(f"Unknown option '{parsed}'")
    _, paths = parsed
    if len(paths) < 2:
        return ctx.error("Needs 2 arguments")
    code = 0
    for src in paths[:-1]:
        try:
            ctx.device.files.move(src, paths[-1], root=ctx.root)
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


@register("rm")
def _rm(ctx: Context, args: list[str]) -> int:
    parsed = split_flags(args, "rRfiv")
    if isinstance(parsed, str):
        return ctx.error(f"Unknown option '{parsed}'")
    flags, paths = parsed
    if not paths and "f" not in flags:
        return ctx.error("Needs 1 argument")
    code = 0
    for path in paths:
        try:
            ctx.device.files.remove(path, root=ctx.root, recursive=bool(flags & {"r", "R"}))
        except FsError as exc:
            if not ("f" in flags and exc.errno == 2):
                code = ctx.fs_error(exc)
    return code


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
    code = 0
    for path in rest:
        try:
            ctx.device.files.mkdir(path, root=ctx.root, parents=parents)
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


@register("chmod")
def _chmod(ctx: Context, args: list[str]) -> int:
    rest = [a for a in args if a not in ("-R", "-f", "-v")]
    if len(rest) < 2:
        return ctx.error("Needs 2 arguments")
    code = 0
    for path in rest[1:]:
        try:
            if re.fullmatch(r"[0-7]{1,4}", rest[0]):
                ctx.device.files.chmod(path, int(rest[0], 8), root=ctx.root)
            elif not ctx.device.files.exists(path, root=ctx.root):  # symbolic modes: accepted, not modelled
                raise FsError(2, path)
        except FsError as exc:
            code = ctx.fs_error(exc)
    return code


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
    parsed = split_flags(args, "laA1dhRtrSsnF")
    if isinstance(parsed, str):
        return ctx.error(f"Unknown option '{parsed}'")
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
