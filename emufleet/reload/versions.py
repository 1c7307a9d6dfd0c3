"""The last good versions of the watched data files, kept so that going back is one command.

A version is the first 12 hex digits of the SHA-256 of the file's bytes. :class:`VersionStore` keeps, per file (by
its key ``<kind>/<path under its folder>``, e.g. ``routines/demo/reach_home.yaml``), the last :data:`KEEP` good
versions (newest last) with when they were recorded, and their bytes, under ``<state>/reload/``: ``index.json`` and
``blobs/<version>``. Writes are atomic (a temporary file replaced); two processes recording at the same moment may
lose one entry of the index, never corrupt it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emufleet.errors import InputError

__all__ = ["KEEP", "Version", "VersionStore", "version_of"]

KEEP = 5


def version_of(data: bytes) -> str:
    """The version of a file's bytes: 12 hex digits of their SHA-256."""
    return hashlib.sha256(data).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Version:
    """A good version of a file: ``version`` (content hash), ``at`` (``time.time()`` when recorded), ``size``
    (bytes)."""

    version: str
    at: float
    size: int


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class VersionStore:
    """Good versions of data files under ``root`` (default ``<state>/reload``)."""

    def __init__(self, root: Path | None = None) -> None:
        if root is None:
            from emufleet.settings import state_dir

            root = state_dir() / "reload"
        self.root = root
        self._index_path = root / "index.json"

    def _index(self) -> dict[str, list[dict[str, object]]]:
        try:
            data = json.loads(self._index_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):  # a damaged index is started afresh: it only holds copies
            return {}
        return data if isinstance(data, dict) else {}

    def history(self, key: str) -> list[Version]:
        """The good versions of ``key``, oldest first (at most :data:`KEEP`)."""
        out = []
        for entry in self._index().get(key, []):
            try:
                out.append(Version(str(entry["version"]), float(str(entry["at"])), int(str(entry["size"]))))
            except (KeyError, ValueError):
                continue
        return out

    def latest(self, key: str) -> Version | None:
        """The newest good version of ``key``, if any."""
        history = self.history(key)
        return history[-1] if history else None

    def record(self, key: str, data: bytes) -> Version:
        """Record ``data`` as the newest good version of ``key`` (a version already newest is not repeated)."""
        version = version_of(data)
        index = self._index()
        entries = [e for e in index.get(key, []) if e.get("version") != version]
        entries.append({"version": version, "at": time.time(), "size": len(data)})
        index[key] = entries[-KEEP:]
        blob = self.root / "blobs" / version
        if not blob.exists():
            _write_atomic(blob, data)
        _write_atomic(self._index_path, json.dumps(index, indent=1, sort_keys=True).encode())
        self._collect(index)
        return Version(version, float(str(index[key][-1]["at"])), len(data))

    def content(self, version: str) -> bytes:
        """The bytes of ``version``. Raises ``InputError`` when it is not kept."""
        try:
            return (self.root / "blobs" / version).read_bytes()
        except OSError:
            raise InputError(f"version {version} is not kept (see `emufleet reload --history FILE`)") from None

    def rollback_target(self, key: str, current: bytes | None, to: str | None = None) -> Version:
        """The version going back restores: ``to`` when given, else the newest good one that is not the current
        content (the current content is the newest good one after a bad edit was fixed: then the one before it).

        Raises:
            InputError: no such version, or no earlier good version of ``key`` is kept.
        """
        history = self.history(key)
        if to is not None:
            match = [v for v in history if v.version.startswith(to)]
            if len(match) != 1:
                raise InputError(f"{key}: version {to!r} is {'ambiguous' if match else 'not kept'}", field="--to")
            return match[0]
        now = version_of(current) if current is not None else None
        earlier = [v for v in history if v.version != now]
        if not earlier:
            raise InputError(f"{key}: no earlier good version is kept", field="--rollback")
        return earlier[-1]

    def last_check(self) -> float | None:
        """When ``emufleet reload`` last checked (``time.time()``; ``None``: never): it also reports what a
        launch's watcher recorded since."""
        try:
            return float((self.root / "last-check").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def mark_checked(self) -> None:
        """Note that ``emufleet reload`` has just checked (after its own records)."""
        _write_atomic(self.root / "last-check", repr(time.time()).encode())

    def _collect(self, index: dict[str, list[dict[str, object]]]) -> None:
        """Delete blobs no key keeps any more."""
        kept = {str(e.get("version")) for entries in index.values() for e in entries}
        blobs = self.root / "blobs"
        for blob in blobs.iterdir() if blobs.is_dir() else ():
            if blob.name not in kept and not blob.name.startswith("."):
                blob.unlink(missing_ok=True)
