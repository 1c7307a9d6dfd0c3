"""OCR as a recognizer: the text inside a region, read by the process's shared engine (:mod:`..ocr_engine`).

Reads stay inside the region: only the device pixels under it are given to the engine (the whole board only
when no region is given, which the routine grammar allows only with ``whole_screen: true``).

Two paths, chosen by the region's shape (``layout="auto"``):

* **line** — a region at most ``LINE_SHARE`` (10 %) of the screen's width tall holds one line of game text (the
  largest titles of the dev screens are 8 %): recognition alone on the crop, which reads such tight crops best
  (benchmarks/ocr_real.py); the hit's box is the region.
* **block** — larger regions: detection first, then each line found is recognised; one hit per line, boxed.

``query`` (a :class:`~emufleet.vision.text.TextQuery`) keeps the lines that contain the text or match the
pattern; without one, every line read is a hit. The score is the engine's confidence.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen
from emufleet.vision.ocr_engine import TextLine, shared_engine
from emufleet.vision.recognizers.base import Recognition, Recognizer, hit_from_device, locate, recognizer
from emufleet.vision.space import Region
from emufleet.vision.text import Lang, TextQuery, normalise

__all__ = ["DEFAULT_TEXT_THRESHOLD", "LINE_SHARE", "Layout", "OcrRecognizer", "read_image"]

Layout = Literal["auto", "line", "block"]
#: A region at most this share of the screen's width tall is read as one line (``layout="auto"``).
LINE_SHARE = 0.1
#: Minimum engine confidence of a hit (rapidocr's own default ``text_score`` is 0.5).
DEFAULT_TEXT_THRESHOLD = 0.5


def _path(layout: Layout, box_height: int, image_width: int) -> Literal["line", "block"]:
    if layout == "auto":
        return "line" if box_height <= LINE_SHARE * image_width else "block"
    if layout not in ("line", "block"):
        raise VisionError(f"unknown layout {layout!r} (auto, line, block)")
    return layout


def read_image(image: np.ndarray, box: tuple[int, int, int, int] | None = None, *, layout: Layout = "auto",
               lang: Lang = "en") -> list[TextLine]:
    """The lines of text inside ``box`` (``(x1, y1, x2, y2)`` half-open, in ``image``'s own pixels; ``None`` = the
    whole image) of a BGR uint8 ``image``, boxes in ``image``'s pixels, texts normalised for ``lang``.

    Raises ``VisionError`` for a box outside the image or another dtype/shape, ``OcrUnavailableError`` without the
    engine.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise VisionError("read_image needs an (H, W, 3) uint8 BGR image")
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box or (0, 0, w, h)
    if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
        raise VisionError(f"box {(x1, y1, x2, y2)} is not inside the {w}×{h} image")
    crop = image[y1:y2, x1:x2]
    engine = shared_engine()
    if _path(layout, y2 - y1, w) == "line":
        lines = [engine.read_line(crop)]
    else:
        lines = engine.read_block(crop)
    return [TextLine((a + x1, b + y1, c + x1, d + y1), normalise(t.text, lang), t.score)
            for t in lines for (a, b, c, d) in (t.box,) if t.text.strip()]


@recognizer
class OcrRecognizer(Recognizer):
    """Lines of text in a region (module docstring); ``query`` filters them, ``threshold`` is the confidence."""

    NAME = "ocr"

    def __init__(self, query: TextQuery | None = None, *, lang: Lang = "en", layout: Layout = "auto",
                 threshold: float = DEFAULT_TEXT_THRESHOLD) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise VisionError(f"ocr: threshold {threshold} outside [0, 1]")
        _path(layout, 0, 1)  # an unknown layout is a construction error, not a read error
        self.query, self.lang, self.layout, self.threshold = query, lang, layout, threshold

    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        space = screen.space
        area, rect = locate(space, region)
        lines = read_image(screen.frame, rect.as_tuple(), layout=self.layout, lang=self.lang)
        label = self.query.label if self.query else "text"
        hits = [hit_from_device(space, Region(*t.box), t.score, t.text) for t in lines
                if self.query is None or self.query.search(t.text)]
        if not hits and lines:  # evidence: what was read instead, marked down below any threshold
            best = max(lines, key=lambda t: t.score)
            nearest = hit_from_device(space, Region(*best.box), 0.0, best.text)
            return Recognition(self.NAME, label, self.threshold, area, (), nearest)
        return Recognition.of(self.NAME, label, self.threshold, area, hits)
