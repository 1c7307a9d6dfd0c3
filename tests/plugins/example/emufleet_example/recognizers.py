"""``brightness``: a region whose mean grey level reaches ``min_level`` (0–255) is "recognised"."""

from __future__ import annotations

import cv2

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen
from emufleet.vision.recognizers import Hit, Recognition, Recognizer, recognizer
from emufleet.vision.recognizers.base import locate
from emufleet.vision.space import Region


@recognizer
class Brightness(Recognizer):
    NAME = "brightness"

    def __init__(self, min_level: int = 128) -> None:
        if not 0 <= min_level <= 255:
            raise VisionError(f"min_level {min_level} outside 0..255")
        self.min_level = min_level

    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        area, rect = locate(screen.space, region)
        grey = cv2.cvtColor(screen.frame[rect.y1: rect.y2, rect.x1: rect.x2], cv2.COLOR_BGR2GRAY)
        level = float(grey.mean())
        return Recognition.of(self.NAME, f"brightness ≥ {self.min_level}", self.min_level / 255.0, area,
                              [Hit(area, rect, level / 255.0)])
