"""General shell commands of the fake shell (toybox-like): echo, exit, id, sleep, props, su, sh, test, grep.

Each command is ``fn(ctx, args) -> exit code``; messages and exit codes follow toybox/mksh where clients may parse
them (reference §3.6). File commands are in :mod:`emufleet.sim.filecmds`, Android ones in :mod:`emufleet.sim.android`.
"""

from __future__ import annotations

import asyncio
import re

from emufleet.sim.files import FsError
from emufleet.sim.shell import Context, Shell, ShellExit, register

__all__ = ["split_flags"]


def split_flags(args: list[str], known: str) -> tuple[set[str], list[str]] | str:
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
