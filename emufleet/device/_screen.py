"""Decoding ``screencap`` output into BGR frames, with the checks adbutils leaves out.

adbutils' ``screenshot()`` silently returns a black image when the PNG does not decode (reference §5.9); we never
call it. Instead: raw ``screencap`` (a 12- or 16-byte header ``w, h, format[, colour space]`` then ``w·h·4``
RGBA bytes; we take the *last* ``w·h·4`` bytes, as ALAS's ``load_screencap`` does, reference §5.11), or
``screencap -p`` decoded with OpenCV, and every frame is checked for truncation and for being entirely black.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

__all__ = ["BlackFrameError", "FrameError", "decode_png", "decode_raw", "check_frame"]

# PixelFormat values of Android's screencap header that are 4 bytes per pixel in R, G, B, A/X order.
_RGBA_FORMATS = {1: "RGBA_8888", 2: "RGBX_8888"}
_MAX_SIDE = 16384


class FrameError(ValueError):
    """A capture could not be turned into a frame; the caller adds the device context."""


class BlackFrameError(FrameError):
    """The frame decoded but is entirely black."""


def decode_raw(data: bytes) -> np.ndarray:
    """Raw ``screencap`` bytes → ``(H, W, 3)`` uint8 BGR.

    Raises:
        FrameError: header missing or absurd, a pixel format other than RGBA/RGBX_8888, or fewer bytes than
            ``12 + w·h·4`` (truncated).
    """
    if len(data) < 12:
        raise FrameError(f"raw screencap: {len(data)} bytes, shorter than its header")
    width, height, fmt = struct.unpack_from("<III", data)
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise FrameError(f"raw screencap: implausible size {width}x{height}")
    if fmt not in _RGBA_FORMATS:
        raise FrameError(f"raw screencap: unsupported pixel format {fmt}")
    size = width * height * 4
    if len(data) < 12 + size:
        raise FrameError(f"raw screencap truncated: {len(data) - 12} of {size} pixel bytes for {width}x{height}")
    rgba = np.frombuffer(data, dtype=np.uint8, count=size, offset=len(data) - size).reshape(height, width, 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def decode_png(data: bytes) -> np.ndarray:
    """``screencap -p`` bytes → ``(H, W, 3)`` uint8 BGR.

    Raises:
        FrameError: not a PNG, or OpenCV cannot decode it (truncated or corrupt).
    """
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise FrameError(f"png screencap: not a PNG ({len(data)} bytes starting {data[:8]!r})")
    frame = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if frame is None:
        raise FrameError(f"png screencap: undecodable ({len(data)} bytes)")
    return frame


def check_frame(frame: np.ndarray, *, allow_black: bool = False) -> np.ndarray:
    """Return ``frame`` unchanged if it is usable.

    Raises:
        BlackFrameError: the frame is entirely black (the emulator's renderer is not drawing, or a silent fallback)
            and ``allow_black`` is False.
    """
    if not allow_black and not frame.any():
        raise BlackFrameError(f"frame {frame.shape[1]}x{frame.shape[0]} is entirely black")
    return frame
