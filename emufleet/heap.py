"""The C heap of a process that drives bots for hours: large frame buffers go back to the system when freed.

Every capture allocates a few frame-sized buffers (a 540×960 raw screencap is 2 MB of RGBA read from the socket,
copied, then 1.5 MB of BGR), on whichever of the launch's bot threads runs the step. glibc's malloc serves a
request above its mmap threshold (128 KiB) with its own mapping, returned on ``free``, but it *raises* the
threshold to the size of each such block freed (up to 32 MB): after the first frame, frames come from the
per-thread heaps instead, where freed space is kept and fragments between threads. Measured with
``benchmarks/chaos.py --bots 4 --minutes 3``: the launch process's RSS settled ≈ 50 MB higher than with the
threshold fixed, and kept moving with each new thread that captured. :func:`keep_large_blocks_mapped` fixes the
threshold (which stops the raising): a frame is then mapped and unmapped each time (≈ 0.3 ms of page faults
against a 30–300 ms capture). The environment variable ``MALLOC_MMAP_THRESHOLD_`` does the same for a whole
process from its start; :func:`keep_large_blocks_mapped` leaves a value set there alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

__all__ = ["MMAP_THRESHOLD", "keep_large_blocks_mapped"]

log = logging.getLogger(__name__)

#: Blocks of at least this many bytes get their own mapping (glibc's default before it starts raising it).
MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # glibc's <malloc.h>
_applied: bool | None = None


def keep_large_blocks_mapped(threshold: int = MMAP_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process (once; later calls return the first
    answer). Returns whether it is in force: ``False`` off Linux, without glibc (musl, macOS), or when
    ``mallopt`` refuses; ``True`` as well when ``MALLOC_MMAP_THRESHOLD_`` already set it. Never raises."""
    global _applied
    if _applied is not None:
        return _applied
    if os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        _applied = True
        return True
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library of that name, or one without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = mallopt(_M_MMAP_THRESHOLD, int(threshold)) == 1
    if not _applied:
        log.debug("mallopt(M_MMAP_THRESHOLD, %d) refused", threshold)
    return _applied
