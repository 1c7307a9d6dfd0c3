"""The simulated device's file tree: device paths mapped into a host temp folder, with MuMu's permissions.

Device paths are absolute POSIX paths (relative ones are taken from ``/``, the shell's working directory);
``/storage/emulated/0`` and ``/storage/self/primary`` are the same folder as ``/sdcard``, as on Android. Anything
under ``/data/data`` (app private data) needs root: the ``adb shell`` user of a real MuMu is the non-root ``shell``
user (reference §5.14), so ``cat``/``cp``/``ls`` there and ``adb push`` into it fail with *Permission denied*
unless run through ``su``.
"""

from __future__ import annotations

import errno
import fnmatch
import os
import posixpath
import shutil
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FileStat", "FileTree", "FsError"]

_ALIASES = ("/storage/emulated/0", "/storage/self/primary", "/mnt/sdcard")
_PROTECTED = "/data/data"
_INITIAL_DIRS = ("/sdcard/Download", "/sdcard/Pictures", "/data/local/tmp", "/system/bin", "/proc")


class FsError(OSError):
    """A failed file operation; ``str()`` is the sh-style ``path: reason`` text."""

    def __init__(self, code: int, path: str) -> None:
        super().__init__(code, os.strerror(code), path)
        self.path = path

    def __str__(self) -> str:
        return f"{self.path}: {self.strerror}"


@dataclass(frozen=True, slots=True)
class FileStat:
    """What ``stat``/sync report: full ``st_mode`` (type bits included), size in bytes, mtime in s."""

    mode: int
    size: int
    mtime: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


class FileTree:
    """Device file system of one instance, rooted at ``root`` on the host.

    Args:
        root: host folder (created) that holds the device tree.
        on_write: called with the device path after each successful file write (the event log).
    """

    def __init__(self, root: Path, on_write: Callable[[str, int], None] | None = None) -> None:
        self.root = root
        self._on_write = on_write
        self._modes: dict[str, int] = {}
        self._lock = threading.RLock()
        for folder in _INITIAL_DIRS:
            self.host(folder).mkdir(parents=True, exist_ok=True)

    # -- paths ---------------------------------------------------------------------------------------------
    @staticmethod
    def normalize(path: str) -> str:
        """Absolute, normalised device path with the ``/sdcard`` aliases folded."""
        norm = posixpath.normpath(posixpath.join("/", path))
        norm = "/" + norm.lstrip("/")
        for alias in _ALIASES:
            if norm == alias or norm.startswith(alias + "/"):
                norm = "/sdcard" + norm[len(alias):]
        return norm

    def host(self, path: str) -> Path:
        """The host path backing a device path."""
        return self.root / self.normalize(path).lstrip("/")

    @staticmethod
    def needs_root(path: str) -> bool:
        """Whether touching ``path`` needs root (app private data under ``/data/data``)."""
        norm = FileTree.normalize(path)
        return norm == _PROTECTED or norm.startswith(_PROTECTED + "/")

    def _check(self, path: str, root: bool) -> Path:
        if not root and self.needs_root(path):
            raise FsError(errno.EACCES, path)
        return self.host(path)

    # -- queries -------------------------------------------------------------------------------------------
    def exists(self, path: str, *, root: bool = True) -> bool:
        try:
            return self._check(path, root).exists()
        except FsError:
            return False

    def is_dir(self, path: str, *, root: bool = True) -> bool:
        try:
            return self._check(path, root).is_dir()
        except FsError:
            return False

    def is_file(self, path: str, *, root: bool = True) -> bool:
        try:
            return self._check(path, root).is_file()
        except FsError:
            return False

    def stat(self, path: str, *, root: bool = False) -> FileStat:
        """Stat a path; raises :class:`FsError` (ENOENT, EACCES)."""
        host = self._check(path, root)
        try:
            st = host.stat()
        except OSError as exc:
            raise FsError(exc.errno or errno.ENOENT, path) from exc
        kind = stat.S_IFDIR if stat.S_ISDIR(st.st_mode) else stat.S_IFREG
        perm = self._modes.get(self.normalize(path), 0o771 if kind == stat.S_IFDIR else 0o660)
        return FileStat(kind | perm, 0 if kind == stat.S_IFDIR else st.st_size, int(st.st_mtime))

    def listdir(self, path: str, *, root: bool = False) -> list[str]:
        """Sorted entry names of a folder; raises ENOENT, ENOTDIR, EACCES."""
        host = self._check(path, root)
        if not host.exists():
            raise FsError(errno.ENOENT, path)
        if not host.is_dir():
            raise FsError(errno.ENOTDIR, path)
        return sorted(os.listdir(host))

    def glob(self, pattern: str, *, root: bool = False) -> list[str]:
        """Device paths matching a shell glob (``*``, ``?``, ``[...]``), sorted; hidden names need a literal dot."""
        parts = self.normalize(pattern).strip("/").split("/")
        found = ["/"]
        for part in parts:
            nxt: list[str] = []
            for base in found:
                if not any(ch in part for ch in "*?["):
                    candidate = posixpath.join(base, part)
                    if self.exists(candidate, root=root):
                        nxt.append(candidate)
                    continue
                try:
                    names = self.listdir(base, root=root)
                except FsError:
                    continue
                nxt.extend(posixpath.join(base, n) for n in names
                           if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or not n.startswith(".")))
            found = nxt
        return sorted(found)

    # -- reads and writes ----------------------------------------------------------------------------------
    def read(self, path: str, *, root: bool = False) -> bytes:
        """File content; raises ENOENT, EISDIR, EACCES."""
        host = self._check(path, root)
        if host.is_dir():
            raise FsError(errno.EISDIR, path)
        try:
            return host.read_bytes()
        except OSError as exc:
            raise FsError(exc.errno or errno.EIO, path) from exc

    def check_writable(self, path: str, *, root: bool = False) -> None:
        """Raise what a write to ``path`` would raise (EACCES, ENOENT parent, EISDIR) without writing."""
        host = self._check(path, root)
        if host.is_dir():
            raise FsError(errno.EISDIR, path)
        if not host.parent.is_dir():
            raise FsError(errno.ENOENT, path)

    def write(self, path: str, data: bytes, *, root: bool = False, append: bool = False,
              make_parents: bool = False, mode: int | None = None) -> None:
        """Write (or append to) a file; ``make_parents`` creates missing folders (sync SEND, fixed_push_mkdir)."""
        host = self._check(path, root)
        with self._lock:
            if make_parents:
                if not root and self.needs_root(posixpath.dirname(self.normalize(path))):
                    raise FsError(errno.EACCES, path)
                host.parent.mkdir(parents=True, exist_ok=True)
            self.check_writable(path, root=root)
            with open(host, "ab" if append else "wb") as fh:
                fh.write(data)
            if mode is not None:
                self._modes[self.normalize(path)] = mode & 0o7777
        if self._on_write is not None:
            self._on_write(self.normalize(path), len(data))

    def set_mtime(self, path: str, mtime: int) -> None:
        os.utime(self.host(path), (time.time(), mtime))

    def mkdir(self, path: str, *, root: bool = False, parents: bool = False) -> None:
        """Create a folder; raises EEXIST (unless ``parents``), ENOENT parent, EACCES."""
        host = self._check(path, root)
        if host.exists():
            if parents and host.is_dir():
                return
            raise FsError(errno.EEXIST, path)
        if not parents and not host.parent.is_dir():
            raise FsError(errno.ENOENT, path)
        host.mkdir(parents=parents, exist_ok=parents)

    def remove(self, path: str, *, root: bool = False, recursive: bool = False) -> None:
        """Remove a file, or a folder with ``recursive``; raises ENOENT, EISDIR, EACCES, EBUSY for ``/``."""
        host = self._check(path, root)
        norm = self.normalize(path)
        if norm == "/":
            raise FsError(errno.EBUSY, path)
        if not host.exists() and not host.is_symlink():
            raise FsError(errno.ENOENT, path)
        if host.is_dir():
            if not recursive:
                raise FsError(errno.EISDIR, path)
            shutil.rmtree(host)
        else:
            host.unlink()
        with self._lock:
            for key in [k for k in self._modes if k == norm or k.startswith(norm + "/")]:
                del self._modes[key]

    def copy(self, src: str, dst: str, *, root: bool = False, recursive: bool = False) -> None:
        """``cp``: into ``dst`` if it is a folder, else onto it."""
        src_host = self._check(src, root)
        if not src_host.exists():
            raise FsError(errno.ENOENT, src)
        target = self._target(src, dst)
        if src_host.is_dir():
            if not recursive:
                raise FsError(errno.EISDIR, src)
            shutil.copytree(src_host, self._check(target, root), dirs_exist_ok=True)
            return
        self.write(target, src_host.read_bytes(), root=root)

    def move(self, src: str, dst: str, *, root: bool = False) -> None:
        """``mv``: rename ``src`` into/onto ``dst``."""
        src_host = self._check(src, root)
        if not src_host.exists():
            raise FsError(errno.ENOENT, src)
        target = self._target(src, dst)
        dst_host = self._check(target, root)
        if not dst_host.parent.is_dir():
            raise FsError(errno.ENOENT, dst)
        os.replace(src_host, dst_host)
        if dst_host.is_file() and self._on_write is not None:
            self._on_write(self.normalize(target), dst_host.stat().st_size)

    def chmod(self, path: str, mode: int, *, root: bool = False) -> None:
        if not self._check(path, root).exists():
            raise FsError(errno.ENOENT, path)
        with self._lock:
            self._modes[self.normalize(path)] = mode & 0o7777

    def _target(self, src: str, dst: str) -> str:
        if self.host(dst).is_dir():
            return posixpath.join(self.normalize(dst), posixpath.basename(self.normalize(src)))
        return dst
