"""Match overlays: a device frame with the searched regions and match rectangles drawn on it.

People would rather look than read (STYLE 4): the CLI writes one per ``templates match`` run, and routine step
failures can keep one next to their frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from emufleet.vision.matching import MatchResult
from emufleet.vision.space import CoordinateSpace, Region

__all__ = ["draw_box", "draw_overlay", "draw_region"]

_FOUND = (60, 200, 60)  # BGR green
_NEAREST = (40, 40, 230)  # red: best candidate below the threshold
_REGION = (200, 160, 40)  # blue: where it was searched


def draw_overlay(frame: np.ndarray, results: Iterable[MatchResult], space: CoordinateSpace, *,
                 misses: bool = True) -> np.ndarray:
    """A copy of ``frame`` (device BGR) with, per result, its region and its best (or nearest) match labelled.

    Found: a green box and ``name score``; not found (drawn only if ``misses``): a red box at the nearest candidate
    and ``name score < threshold``.
    """
    out = np.array(frame, copy=True)
    for res in results:
        if not (res.found or misses):
            continue
        draw_region(out, space.region_to_device(res.region))
        m = res.best or res.nearest
        if m is None:
            continue
        label = f"{res.template} {m.score:.2f}" + ("" if res.found else f" < {res.threshold:g}")
        draw_box(out, m.device_rect, found=res.found, label=label)
    return out


def draw_box(image: np.ndarray, rect: Region, *, found: bool, label: str = "") -> None:
    """Draw a match box in place on ``image`` (device BGR; ``rect`` in device px) with its label above it (below
    when there is no room): green when ``found``, red for a nearest candidate below the threshold."""
    colour = _FOUND if found else _NEAREST
    cv2.rectangle(image, (rect.x1, rect.y1), (rect.x2 - 1, rect.y2 - 1), colour, 2)
    if label:
        y = rect.y1 - 4 if rect.y1 > 14 else rect.y2 + 12
        cv2.putText(image, label, (rect.x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, label, (rect.x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)


def draw_region(image: np.ndarray, region: Region) -> None:
    """Outline, in place, where a template was searched (``region`` in device px)."""
    cv2.rectangle(image, (region.x1, region.y1), (region.x2 - 1, region.y2 - 1), _REGION, 1)
