"""Listing and reading the user's data folders (routines, templates, pools, groups, hosts, account files).

Every loader lists its folder with :func:`list_data_files` and opens a file with :func:`read_data_file`, so the same
rules hold everywhere:

* only **regular files** are read. A FIFO, a device, a socket, a folder named ``*.yaml``, a link loop or a broken
  link is skipped with a warning naming it (``list_data_files``) or refused as a located error
  (``read_data_file``). A file is opened non-blocking and checked with ``fstat`` on the open descriptor, so a FIFO
  never blocks the reader and a file swapped for a FIFO after listing is still refused;
* a **link** is followed only when it stays inside the folder being listed (``templates/ui.png ->
  ../shared/ui.png`` is skipped with a warning: name the shared folder explicitly instead);
* sub-folders are walked without following links, and a folder holding more than :data:`MAX_ENTRIES` entries is
  refused (a routines folder pointed at ``/``) instead of walked for minutes.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Collection
from pathlib import Path

from emufleet.errors import InputError

__all__ = ["MAX_ENTRIES", "YAML_SUFFIXES", "describe_kind", "list_data_files", "read_data_file"]

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
"""Most directory entries one listing visits (recursively) before it refuses the folder."""
YAML_SUFFIXES = frozenset({".yaml", ".yml"})

_NONBLOCK = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)  # POSIX only; Windows has no FIFOs to open
_KINDS = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def describe_kind(mode: int) -> str:
    """What a ``st_mode`` is, for messages: ``"a FIFO"``, ``"a folder"``, … (``"a regular file"``)."""
    return next((name for test, name in _KINDS if test(mode)), "a regular file" if stat.S_ISREG(mode) else
                "not a regular file")


def _problem(path: Path, root: Path) -> str | None:
    """Why ``path`` (inside the resolved folder ``root``) must not be read, or ``None`` for a readable file."""
    try:
        if path.is_symlink():
            try:
                target = path.resolve(strict=True)
            except RuntimeError:  # Python < 3.13 reports a loop this way
                return "a symlink loop"
            except OSError as exc:
                return "a symlink loop" if "loop" in str(exc).lower() or exc.errno == 40 else "a broken symlink"
            if not target.is_relative_to(root):
                return f"a symlink to {target}, outside {root}"
        mode = path.stat().st_mode
    except (OSError, ValueError) as exc:
        return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"
    return None if stat.S_ISREG(mode) else f"{describe_kind(mode)}, not a regular file"


def list_data_files(folder: str | Path, suffixes: Collection[str], *, recursive: bool = False,
                    skipped: list[tuple[Path, str]] | None = None,
                    error: type[InputError] = InputError, max_entries: int = MAX_ENTRIES) -> list[Path]:
    """Regular files directly in ``folder`` (or below it, ``recursive``) whose suffix is in ``suffixes``
    (lower-case, with the dot: ``{".yaml", ".yml"}``), sorted by path.

    A missing folder gives ``[]``. Anything else with a wanted suffix (see the module docstring) is left out,
    logged as a warning and appended to ``skipped`` as ``(path, reason)``.

    Raises:
        error: the folder holds more than ``max_entries`` entries (files and folders, all levels walked), or
            cannot be listed.
    """
    base = Path(folder)
    if not base.is_dir():
        return []
    root = base.resolve()
    found: list[Path] = []
    seen = 0
    pending = [base]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
        except OSError as exc:
            raise error(f"cannot list: {exc.strerror or exc}", file=current) from exc
        seen += len(names)
        if seen > max_entries:
            raise error(f"more than {max_entries:,} entries under this folder; name the folder that holds the "
                        "data files", file=base)
        for name, is_dir in names:
            path = current / name
            if is_dir and recursive:
                pending.append(path)  # a real folder; a link to a folder is never walked
                continue
            if Path(name).suffix.lower() not in suffixes:
                continue
            problem = _problem(path, root)
            if problem is None:
                found.append(path)
                continue
            log.warning("%s: %s; skipped", path, problem)
            if skipped is not None:
                skipped.append((path, problem))
    return sorted(found)


def read_data_file(path: str | Path, limit: int, *, error: type[InputError] = InputError) -> bytes:
    """The first ``limit + 1`` bytes of the regular file ``path`` (more than ``limit`` means "too large").

    Opened non-blocking and checked on the descriptor: a FIFO, device or folder is refused without waiting.

    Raises:
        error: not a regular file, missing, unreadable, or an impossible name (a NUL byte), naming the file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | _NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    except (OSError, ValueError) as exc:
        raise error(f"cannot read: {getattr(exc, 'strerror', None) or exc}", file=path) from exc
    with os.fdopen(fd, "rb", buffering=0) as fh:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise error(f"cannot read: {describe_kind(mode)}, not a regular file", file=path)
        # O_NONBLOCK stays set: it changes nothing for a regular file (reads of disk files never return EAGAIN)
        chunks, left = [], limit + 1
        while left > 0:
            try:
                chunk = fh.read(left)
            except OSError as exc:  # EIO from a failing disk, EISDIR on odd file systems
                raise error(f"cannot read: {exc.strerror or exc}", file=path) from exc
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
