"""Colour as a recognizer: pixels within an RGB or HSV range inside a region, or the region's mean colour.

Pixels are the device frame's, under the region (declared space mapped to device pixels, covering rectangle).

* ``mode="range"``: ``lower``/``upper`` bound each channel inclusively — RGB 0–255, or HSV in OpenCV's ranges
  (H 0–179, S and V 0–255; a hue range with ``lower[0] > upper[0]`` wraps through red). The score is the
  fraction of the region's pixels in range, compared with ``min_fraction``; or, with ``min_pixels``, the count
  (then the score is ``min(1, count / min_pixels)`` and the threshold 1). The hit's box is the bounding box of
  the pixels in range.
* ``mode="mean"``: the region's mean RGB colour must lie within ``tolerance`` levels of ``mean`` on every
  channel; score ``1 − max |Δ| / 255``, threshold ``1 − tolerance / 255``; the hit's box is the region.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import cv2
import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen
from emufleet.vision.recognizers.base import Hit, Recognition, Recognizer, hit_from_device, locate, recognizer
from emufleet.vision.space import Region

__all__ = ["DEFAULT_MIN_FRACTION", "DEFAULT_TOLERANCE", "ColourRecognizer", "mean_colour"]

Triple = tuple[int, int, int]
_LIMITS = {"rgb": (255, 255, 255), "hsv": (179, 255, 255)}
DEFAULT_MIN_FRACTION = 0.5
DEFAULT_TOLERANCE = 24


def _triple(value: Sequence[int] | None, what: str, limits: Triple) -> Triple:
    if value is None or len(value) != 3:
        raise VisionError(f"{what} needs three channel values, got {value!r}")
    out = tuple(int(v) for v in value)
    for v, top in zip(out, limits, strict=True):
        if not 0 <= v <= top:
            raise VisionError(f"{what} {list(out)}: each channel within 0..{list(limits)}")
    return out[0], out[1], out[2]


def mean_colour(screen: Screen, region: Region | None = None) -> Triple:
    """The mean colour ``(r, g, b)`` (rounded) of the device pixels under ``region`` (declared space)."""
    _, rect = locate(screen.space, region)
    b, g, r = cv2.mean(screen.frame[rect.y1: rect.y2, rect.x1: rect.x2])[:3]
    return round(r), round(g), round(b)


@recognizer
class ColourRecognizer(Recognizer):
    """Pixels of a colour range inside a region, or the region's mean colour (module docstring).

    Raises ``VisionError`` for channel values outside their range, a missing bound, or a fraction outside [0, 1].
    """

    NAME = "colour"

    def __init__(self, *, mode: Literal["range", "mean"] = "range", space: Literal["rgb", "hsv"] = "rgb",
                 lower: Sequence[int] | None = None, upper: Sequence[int] | None = None,
                 min_fraction: float = DEFAULT_MIN_FRACTION, min_pixels: int | None = None,
                 mean: Sequence[int] | None = None, tolerance: int = DEFAULT_TOLERANCE) -> None:
        if space not in _LIMITS or mode not in ("range", "mean"):
            raise VisionError(f"colour: unknown space {space!r} or mode {mode!r}")
        self.mode, self.space = mode, space
        if mode == "mean":
            self.mean = _triple(mean, "mean", _LIMITS["rgb"])
            if not 0 <= tolerance <= 255:
                raise VisionError(f"tolerance {tolerance} outside 0..255")
            self.tolerance = int(tolerance)
            return
        self.lower = _triple(lower, "lower", _LIMITS[space])
        self.upper = _triple(upper, "upper", _LIMITS[space])
        for i, (lo, hi) in enumerate(zip(self.lower, self.upper, strict=True)):
            if lo > hi and not (space == "hsv" and i == 0):
                raise VisionError(f"lower {list(self.lower)} exceeds upper {list(self.upper)} on channel {i}")
        if not 0.0 <= min_fraction <= 1.0:
            raise VisionError(f"min_fraction {min_fraction} outside [0, 1]")
        if min_pixels is not None and min_pixels < 1:
            raise VisionError(f"min_pixels {min_pixels} must be at least 1")
        self.min_fraction, self.min_pixels = float(min_fraction), min_pixels

    @property
    def label(self) -> str:
        if self.mode == "mean":
            return f"colour mean {list(self.mean)} ±{self.tolerance}"
        return f"colour {self.space} {list(self.lower)}..{list(self.upper)}"

    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        space = screen.space
        area, rect = locate(space, region)
        if self.mode == "mean":
            got = mean_colour(screen, area)
            score = 1.0 - max(abs(a - b) for a, b in zip(got, self.mean, strict=True)) / 255.0
            hit = Hit(area, rect, score, None)
            return Recognition.of(self.NAME, self.label, 1.0 - self.tolerance / 255.0, area, [hit])
        mask = self._mask(screen.frame[rect.y1: rect.y2, rect.x1: rect.x2])
        count = int(cv2.countNonZero(mask))
        if self.min_pixels is not None:
            score, threshold = min(1.0, count / self.min_pixels), 1.0
        else:
            score, threshold = count / mask.size, self.min_fraction
        if count == 0:
            return Recognition.of(self.NAME, self.label, threshold, area, [Hit(area, rect, 0.0)])
        x, y, w, h = cv2.boundingRect(mask)
        box = Region(rect.x1 + x, rect.y1 + y, rect.x1 + x + w, rect.y1 + y + h)
        return Recognition.of(self.NAME, self.label, threshold, area, [hit_from_device(space, box, score)])

    def _mask(self, pixels: np.ndarray) -> np.ndarray:
        """(h, w) uint8 0/255: the device pixels (BGR) within the range."""
        if self.space == "rgb":
            (r1, g1, b1), (r2, g2, b2) = self.lower, self.upper
            return cv2.inRange(pixels, np.array((b1, g1, r1), np.uint8), np.array((b2, g2, r2), np.uint8))
        hsv = cv2.cvtColor(pixels, cv2.COLOR_BGR2HSV)
        lo, hi = self.lower, self.upper
        if lo[0] <= hi[0]:
            return cv2.inRange(hsv, np.array(lo, np.uint8), np.array(hi, np.uint8))
        # a hue range through red (e.g. 170..10): two ranges
        upper_part = cv2.inRange(hsv, np.array(lo, np.uint8), np.array((179, hi[1], hi[2]), np.uint8))
        lower_part = cv2.inRange(hsv, np.array((0, lo[1], lo[2]), np.uint8), np.array(hi, np.uint8))
        return cv2.bitwise_or(upper_part, lower_part)
