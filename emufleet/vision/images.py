"""Template image decoding, alpha masks and the per-process image cache (digest §4.2, §4.4).

The seed decodes lazily, caches twice and ignores alpha (transparent pixels compare as black, §4.2). Here a PNG is
decoded once per process — keyed by its resolved path and modification time, so an edited file is re-read — into a
read-only BGR array plus, only when the image has real transparency, a mask of its fully opaque pixels. Opaque
alpha channels (179 of the 180 RGBA seed files) are dropped: a mask that is all ones would only slow matching.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emufleet.errors import VisionError

__all__ = ["TemplateImage", "cache_clear", "cache_size", "read_template_image"]


@dataclass(frozen=True, slots=True, eq=False)
class TemplateImage:
    """A decoded template: ``image`` (h, w, 3) uint8 BGR and ``mask`` (h, w) uint8 0/255 or ``None``.

    Both arrays are read-only (they are shared by every user of the cache).
    """

    image: np.ndarray
    mask: np.ndarray | None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in template px."""
        return int(self.image.shape[1]), int(self.image.shape[0])


_cache: dict[tuple[Path, int], TemplateImage] = {}
_lock = threading.Lock()


def _decode(path: Path) -> TemplateImage:
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise VisionError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    img = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if img is None:
        raise VisionError(f"cannot decode image {path}")
    if img.dtype != np.uint8:
        raise VisionError(f"image {path} is {img.dtype}, expected 8-bit")
    mask = None
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        alpha = img[:, :, 3]
        if (alpha < 255).any():
            # Only fully opaque pixels count: partly transparent ones take the screen's colour underneath.
            mask = np.where(alpha == 255, 255, 0).astype(np.uint8)
            if not mask.any():
                raise VisionError(f"image {path} has no fully opaque pixel")
        img = np.ascontiguousarray(img[:, :, :3])
    elif img.shape[2] != 3:
        raise VisionError(f"image {path} has {img.shape[2]} channels, expected 1, 3 or 4")
    img.setflags(write=False)
    if mask is not None:
        mask.setflags(write=False)
    return TemplateImage(img, mask)


def read_template_image(path: str | Path) -> TemplateImage:
    """Decode ``path`` (PNG or any format OpenCV reads), cached per process by resolved path + mtime.

    Raises:
        VisionError: missing, unreadable or undecodable file, or not 8-bit.
    """
    resolved = Path(path).resolve()
    try:
        mtime = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise VisionError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    key = (resolved, mtime)
    with _lock:
        hit = _cache.get(key)
    if hit is not None:
        return hit
    decoded = _decode(resolved)
    with _lock:
        return _cache.setdefault(key, decoded)


def cache_clear() -> None:
    """Forget every decoded image (tests; long-running processes that swap template sets)."""
    with _lock:
        _cache.clear()


def cache_size() -> int:
    """Number of decoded images held."""
    with _lock:
        return len(_cache)
