"""Match overlays: a device frame with the searched regions and match rectangles drawn on it.

People would rather look than read (STYLE 4): the CLI writes one per ``templates match`` run, and routine step
failures can keep one next to their frame.
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

from emufleet.vision.matching import MatchResult
from emufleet.vision.space import CoordinateSpace

__all__ = ["draw_overlay"]

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
        reg = space.region_to_device(res.region)
        cv2.rectangle(out, (reg.x1, reg.y1), (reg.x2 - 1, reg.y2 - 1), _REGION, 1)
        m = res.best or res.nearest
        if m is None:
            continue
        colour = _FOUND if res.found else _NEAREST
        r = m.device_rect
        cv2.rectangle(out, (r.x1, r.y1), (r.x2 - 1, r.y2 - 1), colour, 2)
        label = f"{res.template} {m.score:.2f}" + ("" if res.found else f" < {res.threshold:g}")
        y = r.y1 - 4 if r.y1 > 14 else r.y2 + 12
        cv2.putText(out, label, (r.x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (r.x1, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out
