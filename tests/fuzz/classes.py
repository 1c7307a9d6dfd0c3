"""Generated input classes of the campaign (issue 23): files that are not regular files, declared encodings, image
sizes, command-line arguments. Unlike the shipped-file mutations of :mod:`tests.fuzz.corpus`, each input is
generated from the seed: ``generate(rng, kind)`` gives bytes, and the workspace's runner for ``kind`` interprets
them (``run(workspace_project, data)``), returning normally when the input loaded (or was skipped, as it must
be) and raising our located ``InputError`` when it was refused; anything else is a crash.
"""

from __future__ import annotations

import codecs
import json
import os
import random
import struct
import zlib
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from emufleet.accounts.xmlfile import parse_account_xml
from emufleet.errors import InputError, VisionError
from emufleet.vision.images import decode_image

__all__ = ["GENERATED_KINDS", "generate", "run_cli", "run_encoding", "run_image", "run_special"]

GENERATED_KINDS = ("special", "encoding", "image", "cli")

_FOLDERS = ("routines", "pools", "groups", "templates", "hosts", "accounts")
_SPECIALS = ("fifo", "dir", "loop", "out", "device", "broken", "deep")
_ENCODINGS = ("rot13", "zlib", "zlib_codec", "hex", "base64", "bz2", "uu", "quopri", "idna", "punycode",
              "unicode_escape", "raw_unicode_escape", "utf-7", "utf-16", "utf-16-le", "utf-32", "cp500", "cp037",
              "latin-1", "cp1252", "shift_jis", "euc-jp", "gb18030", "koi8-r", "mac-roman", "ascii", "utf-8",
              "utf-8-sig", "bogus", "x" * 40, "palmos", "charmap", "mbcs", "oem", "undefined", "string_escape")
_NUMBERS = ("0", "-1", "-0", "1", "nan", "inf", "-inf", "1e300", "1e-300", "0x10", "1_000", str(2**63),
            str(2**64), str(2**70), "9" * 400, "", " ", "1.5", "٣", "²", "1e", "--1")
_TEXTS = ("", " ", "x" * 10000, "\ud800", "a\0b", "../../etc/passwd", "/etc", "-", "--help", "é😀", "\x1b[31m",
          "a\nb", "%", "_", "*", "demo", "nosuch", "x.png", "x.zzz", "x.", ".png")
# (command words, option to vary or None for a positional, the kind of value it takes). Commands that write
# outside the workspace, start servers or touch devices are left out: the campaign runs them for real.
_CLI: tuple[tuple[tuple[str, ...], str | None, str], ...] = (
    (("pools", "test", "demo"), "--sample", "number"),
    (("pools", "show"), None, "text"),
    (("pools", "test"), None, "text"),
    (("accounts", "show"), None, "number"),
    (("accounts", "show"), None, "text"),
    (("accounts", "reset"), None, "number"),
    (("accounts", "list"), "--status", "text"),
    (("accounts", "import"), None, "text"),
    (("routines", "validate"), None, "text"),
    (("routines", "list"), "--tag", "text"),
    (("groups", "show"), None, "text"),
    (("groups", "list"), None, "none"),
    (("templates", "match"), None, "text"),
    (("templates", "lint"), "--screens", "text"),
    (("db", "current"), "--url", "text"),
    (("accounts", "list"), "--url", "text"),
    (("sim", "events"), "-n", "number"),
)


def _png(width: int, height: int, body: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def generate(rng: random.Random, kind: str) -> bytes:
    """One input of a generated ``kind`` (:data:`GENERATED_KINDS`), as bytes."""
    if kind == "special":
        return json.dumps([rng.choice(_FOLDERS), rng.choice(_SPECIALS)]).encode()
    if kind == "encoding":
        encoding = rng.choice(_ENCODINGS)
        text = (f"<?xml version='1.0' encoding='{encoding}' standalone='yes' ?>\n<map>\n"
                '    <string name="deviceAccount">caf\u00e9@x</string>\n'
                '    <string name="devicePassword"> pw </string>\n</map>\n')
        body = rng.choice(("utf-8", "latin-1", "utf-16", encoding))
        try:
            data = text.encode(body)
        except (LookupError, UnicodeError, TypeError):
            data = text.encode("utf-8")
        return data if rng.random() < 0.8 else data[:rng.randrange(len(data) + 1)]
    if kind == "image":
        sizes = (0, 1, 2, 16, 4096, 4097, 40000, 65535, 2**31 - 1, 2**32 - 1)
        width, height = rng.choice(sizes), rng.choice(sizes)
        body = zlib.compress(bytes(rng.randrange(256) for _ in range(rng.randrange(64)))) if rng.random() < 0.5 \
            else bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        data = _png(width, height, body)
        form = rng.random()
        if form < 0.15:
            data = data[:rng.randrange(len(data) + 1)]
        elif form < 0.25:  # a JPEG, BMP or WebP header instead
            data = rng.choice((b"\xff\xd8\xff\xc0\x00\x11\x08" + struct.pack(">HH", height & 0xFFFF, width & 0xFFFF),
                               b"BM" + b"\0" * 16 + struct.pack("<ii", width & 0x7FFFFFFF, -(height & 0x7FFFFFFF)),
                               b"RIFF\0\0\0\0WEBPVP8X" + b"\0" * 8 + (width & 0xFFFFFF).to_bytes(3, "little")
                               + (height & 0xFFFFFF).to_bytes(3, "little"))) + body
        return data
    if kind == "cli":
        words, option, value_kind = rng.choice(_CLI)
        value = rng.choice(_NUMBERS if value_kind == "number" else _TEXTS)
        args = [*words, *([option] if option else []), *([value] if value_kind != "none" else [])]
        return json.dumps(args).encode("utf-8", "surrogatepass")
    raise ValueError(f"not a generated kind: {kind}")


def run_special(project: Path, data: bytes, loaders: dict[str, Any]) -> None:
    """Make a special entry (FIFO, folder named like a file, link loop, link out, device link, broken link, deep
    link chain) in one data folder, run that folder's loader, and check it loaded the shipped files regardless.
    Skipped entries are not errors: the loader returns normally."""
    folder, special = json.loads(data)
    suffix = ".xml" if folder == "accounts" else ".yaml"
    base = project / ("inbox" if folder == "accounts" else folder)
    base.mkdir(parents=True, exist_ok=True)
    entry = base / f"zz_special{suffix}"
    made: list[Path] = [entry]
    if special == "fifo":
        os.mkfifo(entry)
    elif special == "dir":
        entry.mkdir()
    elif special == "loop":
        entry.symlink_to(entry.name)
    elif special == "out":
        entry.symlink_to("/etc/passwd")
    elif special == "device":
        entry.symlink_to("/dev/zero")
    elif special == "broken":
        entry.symlink_to("nowhere")
    else:  # a chain of links that stays inside but ends in a FIFO
        fifo = base / "zz_fifo.bin"
        os.mkfifo(fifo)
        entry.symlink_to(fifo.name)
        made.append(fifo)
    try:
        loaders[folder]()
    finally:
        for path in made:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()


def run_encoding(path: Path, data: bytes) -> None:
    """An account file with a declared (and maybe lying) encoding: parsed, or our located error."""
    creds = parse_account_xml(data, path)
    assert creds.device_password.strip() == "pw", "the password was read wrong"


def run_image(path: Path, data: bytes) -> None:
    """An image with any declared size: decoded within the limits, or a ``VisionError`` (reported as located)."""
    try:
        decode_image(data, path)
    except VisionError as exc:
        raise InputError(f"image: {exc}", file=path) from exc


_ENV = ("EMUFLEET_STATE_DIR", "EMUFLEET_HOME", "EMUFLEET_DATABASE_URL")


def run_cli(cwd: Path, data: bytes, database_url: str) -> None:
    """One command line, run in the project ``cwd`` (its data folders) on ``database_url``: exit 0, 1 or 2 with no
    traceback (a non-zero exit raises our ``InputError`` here)."""
    from emufleet.cli import app
    from emufleet.errors import EmufleetError

    args = json.loads(data.decode("utf-8", "surrogatepass"))
    old, saved = Path.cwd(), {k: os.environ.get(k) for k in _ENV}
    os.chdir(cwd)
    os.environ.update({"EMUFLEET_STATE_DIR": str(cwd / "state"), "EMUFLEET_HOME": str(cwd),
                       "EMUFLEET_DATABASE_URL": database_url})
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    exc = result.exception
    if isinstance(exc, EmufleetError):  # main() ends these as one line and exit 1
        exc = SystemExit(1)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    assert result.exit_code in (0, 1, 2), result.exit_code
    if result.exit_code:
        raise InputError(f"exit {result.exit_code}", file="<command line>")
    # Exit 0 from a command given a hostile value is fine (a name that matches nothing is a valid search).


codecs.lookup("utf-8")  # the codec registry is warm before a worker's memory cap applies
