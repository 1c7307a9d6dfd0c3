"""Template image decoding, alpha masks and the per-process image cache (digest §4.2, §4.4).

The seed decodes lazily, caches twice and ignores alpha (transparent pixels compare as black, §4.2). Here a PNG is
decoded once per process — keyed by its resolved path and modification time, so an edited file is re-read — into a
read-only BGR array plus, only when the image has real transparency, a mask of its fully opaque pixels. Opaque
alpha channels (179 of the 180 RGBA seed files) are dropped: a mask that is all ones would only slow matching.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emufleet.errors import VisionError

__all__ = ["MAX_IMAGE_BYTES", "MAX_IMAGE_PIXELS", "TemplateImage", "cache_clear", "cache_size", "decode_image",
           "image_dimensions", "read_image", "read_template_image"]

MAX_IMAGE_BYTES = 32 * 1024 * 1024
"""Largest image file read (a 4K PNG screenshot is ≈ 10 MB)."""
MAX_IMAGE_PIXELS = 4096 * 4096
"""Most pixels an image may declare: checked on its header before OpenCV allocates anything (≈ 64 MB as BGRA)."""


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


def _jpeg_size(raw: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's first SOF marker (segments walked, entropy data never reached)."""
    i = 2
    while i + 9 <= len(raw):
        if raw[i] != 0xFF:
            return None
        marker = raw[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # no length: RSTn, SOI, EOI, TEM
            i += 2
            continue
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", raw[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", raw[i + 2:i + 4])[0]
    return None


def image_dimensions(raw: bytes) -> tuple[int, int] | None:
    """``(width, height)`` an encoded image declares in its header (PNG, JPEG, BMP, WebP), without decoding it;
    ``None`` for another format or a header too short to say."""
    if raw.startswith(b"\x89PNG\r\n\x1a\n") and len(raw) >= 24 and raw[12:16] == b"IHDR":
        return struct.unpack(">II", raw[16:24])
    if raw.startswith(b"\xff\xd8"):
        return _jpeg_size(raw)
    if raw.startswith(b"BM") and len(raw) >= 26:
        width, height = struct.unpack("<ii", raw[18:26])
        return abs(width), abs(height)  # a negative height is a top-down bitmap
    if raw.startswith(b"RIFF") and raw[8:12] == b"WEBP" and len(raw) >= 30:
        chunk = raw[12:16]
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", raw[26:30])
            return width & 0x3FFF, height & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(raw[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8X":
            return int.from_bytes(raw[24:27], "little") + 1, int.from_bytes(raw[27:30], "little") + 1
    return None


def decode_image(raw: bytes, file: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decode an encoded image (``cv2.imdecode`` with ``flags``) after checking its size: the bytes against
    :data:`MAX_IMAGE_BYTES`, the pixels its header declares against :data:`MAX_IMAGE_PIXELS`.

    Raises:
        VisionError: too large, a format whose size cannot be read first (PNG, JPEG, BMP and WebP can), not
            decodable, or any OpenCV error, naming ``file``.
    """
    if len(raw) > MAX_IMAGE_BYTES:
        raise VisionError(f"image {file} is larger than the limit of {MAX_IMAGE_BYTES:,} bytes")
    size = image_dimensions(raw)
    if size is None:
        raise VisionError(f"cannot decode image {file}: not a PNG, JPEG, BMP or WebP image, or its header is cut")
    width, height = size
    if not (0 < width <= 65535 and 0 < height <= 65535):
        raise VisionError(f"image {file} declares {width}×{height} pixels: no side may be 0 or over 65,535")
    if width * height > MAX_IMAGE_PIXELS:
        raise VisionError(f"image {file} declares {width}×{height} pixels, more than the limit of "
                          f"{MAX_IMAGE_PIXELS:,}")
    try:
        img = cv2.imdecode(np.frombuffer(raw, dtype=np.uint8), flags)
    except cv2.error as exc:
        raise VisionError(f"cannot decode image {file}: {str(exc).strip().splitlines()[-1][:200]}") from exc
    if img is None:
        raise VisionError(f"cannot decode image {file}")
    return img


def read_image(path: str | Path, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Read and :func:`decode_image` the regular file ``path`` (a FIFO or a device is refused unread).

    Raises:
        VisionError: unreadable, too large, undecodable (see :func:`decode_image`).
    """
    from emufleet.datafiles import read_data_file
    from emufleet.errors import InputError

    try:
        raw = read_data_file(path, MAX_IMAGE_BYTES)
    except InputError as exc:
        raise VisionError(f"image {exc}") from exc
    return decode_image(raw, path, flags)


def _decode(path: Path) -> TemplateImage:
    img = read_image(path)
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
