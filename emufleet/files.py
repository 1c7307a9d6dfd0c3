"""Writing user-edited files safely: a temp file in the same folder, then one rename.

A crash, a full disk or a concurrent reader never sees a half-written definition: readers get the old file or the
new one. ``exclusive=True`` refuses to replace an existing file, atomically (a hard link of the temp file, which
fails if the name exists), so two writers creating the same name cannot both win.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | Path, data: str | bytes, *, exclusive: bool = False) -> Path:
    """Write ``data`` (text is UTF-8) to ``path`` through a temp file + rename; returns ``path``.

    Raises:
        FileExistsError: ``exclusive`` and ``path`` already exists (nothing is written).
        OSError: the folder cannot be created or written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        if exclusive:
            os.link(tmp, path)  # fails with FileExistsError instead of replacing
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path
