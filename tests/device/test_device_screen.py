"""Decoding raw and PNG screencaps, and the checks adbutils leaves out (no device needed)."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest

from emufleet.device._screen import BlackFrameError, FrameError, check_frame, decode_png, decode_raw


def _rgba(width: int = 4, height: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, size=(height, width, 4), dtype=np.uint8)


@pytest.mark.parametrize("header_words", [3, 4])  # 12-byte header, or 16 with the colour space (Android ≥ 9)
def test_decode_raw_takes_the_last_pixels_and_returns_bgr(header_words: int) -> None:
    rgba = _rgba()
    header = struct.pack("<" + "I" * header_words, 4, 3, 1, *([0] * (header_words - 3)))
    frame = decode_raw(header + rgba.tobytes())
    assert frame.shape == (3, 4, 3) and frame.dtype == np.uint8
    assert np.array_equal(frame[..., ::-1], rgba[..., :3])  # BGR of the RGB channels


def test_decode_raw_rejects_truncated_and_unknown_formats() -> None:
    data = struct.pack("<III", 4, 3, 1) + _rgba().tobytes()
    with pytest.raises(FrameError, match="truncated"):
        decode_raw(data[:-1])
    with pytest.raises(FrameError, match="format"):
        decode_raw(struct.pack("<III", 4, 3, 4) + _rgba().tobytes())
    with pytest.raises(FrameError, match="size"):
        decode_raw(struct.pack("<III", 0, 3, 1))
    with pytest.raises(FrameError, match="header"):
        decode_raw(b"\x01\x02")


def test_decode_png_round_trip_and_garbage() -> None:
    bgr = _rgba()[..., :3].copy()
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    assert np.array_equal(decode_png(png.tobytes()), bgr)
    with pytest.raises(FrameError, match="not a PNG"):
        decode_png(b"garbage")
    with pytest.raises(FrameError, match="undecodable"):
        decode_png(png.tobytes()[:40])


def test_black_frames_are_refused_unless_allowed() -> None:
    black = np.zeros((960, 540, 3), np.uint8)
    with pytest.raises(BlackFrameError):
        check_frame(black)
    assert check_frame(black, allow_black=True) is black
    one_pixel = black.copy()
    one_pixel[5, 5, 1] = 1
    assert check_frame(one_pixel) is one_pixel
