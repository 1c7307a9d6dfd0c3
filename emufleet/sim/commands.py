"""General shell commands of the fake shell (toybox-like): echo, files, test, grep, su, sh, props.

Each command is ``fn(ctx, args) -> exit code``; messages and exit codes follow toybox/mksh where clients may parse
them (reference §3.6). File access goes through :class:`~emufleet.sim.files.FileTree` with the shell's root flag,
so ``/data/data`` needs ``su``.
"""

from __future__ import annotations

import asyncio
import posixpath
import re
import stat as stat_mod
import time

from emufleet.sim.files import FsError
from emufleet.sim.shell import Context, Shell, ShellExit, register

__all__: list[str] = []


def _split_flags(args: list[str], known: str) -> tuple[set[str], list[str]] | str:
    """Leading ``-abc`` flags (letters from ``known``) and the rest; an unknown flag letter is returned as str."""
    flags: set[str] = set()
    rest = list(args)
    while rest and rest[0].startswith("-") and rest[0] != "-":
        arg = rest.pop(0)
        if arg == "--":
            break
        for letter in arg[1:]:
            if letter not in known:
                return letter
            flags.add(letter)
    return flags, rest


@register("true", ":")
def _true(ctx: Context, args: list[str]) -> int:
    return 0


@register("false")
def _false(ctx: Context, args: list[str]) -> int:
    return 1


@register("exit")
def _exit(ctx: Context, args: list[str]) -> int:
    code = ctx.shell.status
    if args:
        if not args[0].lstrip("-").isdigit():
            return ctx.error(f"Illegal number {args[0]}", 2)
        code = int(args[0])
    raise ShellExit(code)


@register("echo")
def _echo(ctx: Context, args: list[str]) -> int:
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for letter in args.pop(0)[1:]:
            newline = newline and letter != "n"
            escapes = {"e": True, "E": False}.get(letter, escapes)
    text = " ".join(args)
    if escapes:
        cut = text.find("\\c")
        if cut >= 0:
            text, newline = text[:cut], False
        text = text.encode("latin-1", "backslashreplace").decode("unicode_escape")
    ctx.io.out(text + ("\n" if newline else ""))
    return 0


@register("id")
def _id(ctx: Context, args: list[str]) -> int:
    if ctx.root:
        ctx.io.out("uid=0(root) gid=0(root) groups=0(root) context=u:r:su:s0\n")
    else:
        ctx.io.out("uid=2000(shell) gid=2000(shell) groups=2000(shell),1004(input),1007(log),1011(adb),"
                   "1015(sdcard_rw),1028(sdcard_r),3003(inet) context=u:r:shell:s0\n")
    return 0


@register("whoami")
def _whoami(ctx: Context, args: list[str]) -> int:
    ctx.io.out("root\n" if ctx.root else "shell\n")
    return 0


@register("sleep")
async def _sleep(ctx: Context, args: list[str]) -> int:
    try:
        seconds = float(args[0]) if args else -1.0
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        return ctx.error(f"bad number '{args[0] if args else ''}'")
    await asyncio.sleep(seconds)
    return 0


@register("getprop")
def _getprop(ctx: Context, args: list[str]) -> int:
    if not args:
        ctx.io.out("".join(f"[{k}]: [{v}]\n" for k, v in ctx.device.all_props().items()))
        return 0
    value = ctx.device.getprop(args[0])
    ctx.io.out((value or (args[1] if len(args) > 1 else "")) + "\n")
    return 0


@register("setprop")
def _setprop(ctx: Context, args: list[str]) -> int:
    if len(args) != 2:
        return ctx.error("usage: setprop NAME VALUE")
    if not ctx.device.setprop(args[0], args[1]):
        return ctx.error(f"failed to set property '{args[0]}' to '{args[1]}'")
    return 0


@register("su")
async def _su(ctx: Context, args: list[str]) -> int:
    """``su -c 'cmd'``, ``su 0 cmd args…``, ``su root -c …``, or ``su`` reading commands from stdin."""
    if not ctx.device.root_enabled:
        return ctx.error("Permission denied")
    rest = list(args)
    if rest and rest[0] in ("0", "root", "-"):
        rest.pop(0)
    inner = Shell(ctx.device, root=True, env=ctx.shell.env)
    if rest and rest[0] in ("-c", "--command"):
        if len(rest) < 2:
            return ctx.error("option requires an argument -- c")
        return await inner.run_into(" ".join(rest[1:]), ctx.io)
    if rest:
        return await inner.call(rest, ctx.io)
    return await inner.run_into(ctx.io.stdin.decode(errors="replace"), ctx.io)


@register("sh")
async def _sh(ctx: Context, args: list[str]) -> int:
    inner = Shell(ctx.device, root=ctx.root, env=ctx.shell.env)
    if args and args[0] == "-c":
        if len(args) < 2:
            return ctx.error("-c: option requires an argument", 2)
        return await inner.run_into(args[1], ctx.io)
    if args:
        try:
            script = ctx.device.files.read(args[0], root=ctx.root)
        except FsError as exc:
            return ctx.error(f"can't open {exc}", 2)
        return await inner.run_into(script.decode(errors="replace"), ctx.io)
    return await inner.run_into(ctx.io.stdin.decode(errors="replace"), ctx.io)


# -- files -----------------------------------------------------------------------------------------------------
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
    parsed = _split_flags(args, "rRfpaHLPdn")
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
    parsed = _split_flags(args, "fin")
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
    parsed = _split_flags(args, "rRfiv")
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
    parsed = _split_flags(args, "laA1dhRtrSsnF")
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


@register("test", "[")
def _test(ctx: Context, args: list[str]) -> int:
    if ctx.name == "[":
        if not args or args[-1] != "]":
            return ctx.error("missing ]", 2)
        args = args[:-1]
    negate = False
    while args and args[0] == "!":
        negate, args = not negate, args[1:]
    result = _evaluate_test(ctx, args)
    if result is None:
        return ctx.error("syntax error", 2)
    return 0 if result != negate else 1


def _evaluate_test(ctx: Context, args: list[str]) -> bool | None:
    files = ctx.device.files
    if not args:
        return False
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, arg = args
        unary = {
            "-e": lambda: files.exists(arg, root=ctx.root), "-f": lambda: files.is_file(arg, root=ctx.root),
            "-d": lambda: files.is_dir(arg, root=ctx.root), "-r": lambda: files.exists(arg, root=ctx.root),
            "-w": lambda: files.exists(arg, root=ctx.root), "-x": lambda: files.exists(arg, root=ctx.root),
            "-s": lambda: files.is_file(arg, root=ctx.root) and files.stat(arg, root=ctx.root).size > 0,
            "-z": lambda: arg == "", "-n": lambda: arg != "",
        }
        return unary[op]() if op in unary else None
    if len(args) == 3:
        left, op, right = args
        if op in ("=", "=="):
            return left == right
        if op == "!=":
            return left != right
        ints = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__, "-gt": int.__gt__,
                "-ge": int.__ge__}
        if op in ints:
            try:
                return bool(ints[op](int(left), int(right)))
            except ValueError:
                return None
    return None


@register("grep")
def _grep(ctx: Context, args: list[str]) -> int:
    flags: set[str] = set()
    patterns: list[str] = []
    rest: list[str] = []
    it = iter(args)
    for arg in it:
        if arg == "-e":
            patterns.append(next(it, ""))
        elif arg.startswith("-") and len(arg) > 1 and not rest and not (patterns and arg == "-"):
            flags.update(arg[1:])
        else:
            rest.append(arg)
    if not patterns:
        if not rest:
            return ctx.error("no pattern", 2)
        patterns.append(rest.pop(0))
    sources = [(p, ctx.device.files.read(p, root=ctx.root)) if p != "-" else (p, ctx.io.stdin)
               for p in rest if p == "-" or ctx.device.files.is_file(p, root=ctx.root)]
    missing = [p for p in rest if p != "-" and not ctx.device.files.is_file(p, root=ctx.root)]
    if not rest:
        sources = [("-", ctx.io.stdin)]
    regexes = [re.compile(re.escape(p) if "F" in flags else p, re.IGNORECASE if "i" in flags else 0)
               for p in patterns]
    count = 0
    for name, data in sources:
        for line in data.decode(errors="replace").splitlines():
            hit = any((r.fullmatch(line) if "x" in flags else r.search(line)) for r in regexes)
            if hit != ("v" in flags):
                count += 1
                if not ({"q", "c"} & flags):
                    ctx.io.out((f"{name}:" if len(sources) > 1 else "") + line + "\n")
    if "c" in flags:
        ctx.io.out(f"{count}\n")
    for path in missing:
        ctx.error(f"{path}: No such file or directory", 2)
    if missing and "s" not in flags and not count:
        return 2
    return 0 if count else 1
