"""Drawing primitives of the demo art: rectangles, a canvas that records template marks, shapes and text.

All coordinates are device pixels (the 540×960 screen) unless a name says otherwise. Everything is
deterministic: OpenCV drawing with ``LINE_AA``, text with OpenCV ≥ 5's built-in font (``cv2.FontFace``), gradients
in float64, decorations from ``random.Random(seed).random()`` (a sequence Python guarantees across versions, unlike
numpy's streams).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from emufleet.vision.space import Region

__all__ = ["BGR", "BOLD", "DEVICE_SIZE", "FONT", "GOLD", "GOLD_EDGE", "INK", "MAX_TEMPLATE_W", "PANEL", "PANEL_EDGE",
           "REGULAR", "SHADOW", "WHITE", "Canvas", "button", "card_shape", "gradient", "poly", "rrect", "star",
           "stars", "text"]

DEVICE_SIZE = (540, 960)      # device screen, (width, height) px
MAX_TEMPLATE_W = 134          # device px (≤ 70 window px): longer labels are cropped around their centre
BGR = tuple[int, int, int]

WHITE, INK, SHADOW = (255, 255, 255), (60, 45, 40), (30, 20, 20)
PANEL, PANEL_EDGE = (236, 242, 246), (120, 90, 70)
GOLD, GOLD_EDGE = (40, 200, 250), (20, 110, 170)
if not hasattr(cv2, "FontFace"):  # pragma: no cover - depends on the installed OpenCV
    raise ImportError(f"emufleet.sim.art draws its text with OpenCV ≥ 5's font engine; OpenCV is {cv2.__version__}")
FONT = cv2.FontFace("sans")   # OpenCV's built-in sans font
REGULAR, BOLD = 600, 800      # font weights


@dataclass
class Canvas:
    """An image being drawn (H×W×3 BGR uint8) and the device rect of each template-bearing element on it."""

    image: np.ndarray
    marks: dict[str, Region] = field(default_factory=dict)

    def mark(self, name: str, rect: Region) -> None:
        """Record ``rect`` as template ``name``, narrowed around its centre to :data:`MAX_TEMPLATE_W`."""
        if rect.x2 - rect.x1 > MAX_TEMPLATE_W:
            cx = rect.center[0]
            rect = Region(cx - MAX_TEMPLATE_W // 2, rect.y1, cx + MAX_TEMPLATE_W // 2, rect.y2)
        self.marks[name] = rect


def gradient(size: tuple[int, int], top: BGR, bottom: BGR) -> np.ndarray:
    """A vertical gradient image of ``size`` (width, height) from ``top`` to ``bottom`` colour."""
    w, h = size
    t = np.linspace(0.0, 1.0, h)[:, None]
    rows = (np.array(top, float) * (1 - t) + np.array(bottom, float) * t).round().astype(np.uint8)
    return np.ascontiguousarray(np.repeat(rows[:, None, :], w, axis=1))


def rrect(img: np.ndarray, r: Region, radius: int, fill: BGR, border: BGR | None = None, bw: int = 3) -> None:
    """Rounded rectangle, optionally with a ``bw``-px border."""
    if border is not None:
        rrect(img, r, radius, border)
        r, radius = r.expand(-bw), max(radius - bw, 0)
    x1, y1, x2, y2 = r.x1, r.y1, r.x2 - 1, r.y2 - 1
    cv2.rectangle(img, (x1 + radius, y1), (x2 - radius, y2), fill, -1)
    cv2.rectangle(img, (x1, y1 + radius), (x2, y2 - radius), fill, -1)
    if radius:
        for cx, cy in ((x1 + radius, y1 + radius), (x2 - radius, y1 + radius),
                       (x1 + radius, y2 - radius), (x2 - radius, y2 - radius)):
            cv2.circle(img, (cx, cy), radius, fill, -1, cv2.LINE_AA)


def text(img: np.ndarray, label: str, x: int, y: int, size: int, colour: BGR = WHITE, weight: int = BOLD,
         align: str = "center", shadow: BGR | None = SHADOW) -> Region:
    """Draw ``label`` in OpenCV's built-in sans font, ``size`` px high (the em box), ``weight`` 100–1000, centred
    on ``x`` or left-aligned at it, the em box vertically centred on ``y``; ``shadow`` is drawn 2 px down-right.
    Returns the text's box (em box plus descenders)."""
    _, top, w, h = cv2.getTextSize(img.shape[1::-1], label, (0, 0), FONT, size, weight)
    org = (x - w // 2 if align == "center" else x, y + (-top) // 2)
    if shadow is not None:
        cv2.putText(img, label, (org[0] + 2, org[1] + 2), shadow, FONT, size, weight)
    cv2.putText(img, label, org, colour, FONT, size, weight)
    return Region(org[0], org[1] + top, org[0] + w, org[1] + top + h)


def button(c: Canvas, name: str, r: Region, label: str, fill: BGR, size: int = 26) -> None:
    """A glossy rounded button with a dark border and a white label; marked as template ``name``."""
    rrect(c.image, r, 14, fill, border=SHADOW, bw=3)
    gloss = (min(255, fill[0] + 45), min(255, fill[1] + 45), min(255, fill[2] + 45))
    rrect(c.image, Region(r.x1 + 7, r.y1 + 6, r.x2 - 7, r.y1 + (r.y2 - r.y1) // 2 - 2), 8, gloss)
    text(c.image, label, *r.center, size, weight=1000, shadow=None)
    c.mark(name, r)


def stars(img: np.ndarray, seed: int, n: int, area: Region, colour: BGR = (230, 220, 200)) -> None:
    """``n`` small dots scattered over ``area`` from a fixed ``seed``."""
    rng = random.Random(seed)
    for _ in range(n):
        x = area.x1 + int(rng.random() * (area.x2 - area.x1))
        y = area.y1 + int(rng.random() * (area.y2 - area.y1))
        cv2.circle(img, (x, y), 1 + int(rng.random() * 2.5), colour, -1, cv2.LINE_AA)


def poly(img: np.ndarray, pts: Sequence[tuple[float, float]], colour: BGR) -> None:
    """A filled anti-aliased polygon through float points (rounded to pixels)."""
    cv2.fillPoly(img, [np.array(pts, np.float64).round().astype(np.int32)], colour, cv2.LINE_AA)


def star(img: np.ndarray, cx: int, cy: int, r: int, colour: BGR) -> None:
    """A filled five-pointed star of outer radius ``r`` centred on (cx, cy)."""
    pts = [(cx + (r if i % 2 == 0 else r * 0.45) * math.sin(i * math.pi / 5),
            cy - (r if i % 2 == 0 else r * 0.45) * math.cos(i * math.pi / 5)) for i in range(10)]
    poly(img, pts, colour)


def card_shape(img: np.ndarray, cx: int, cy: int, w: int, h: int, angle: float, fill: BGR, edge: BGR) -> None:
    """A card silhouette ``w``×``h`` rotated by ``angle`` degrees, with a 6-px ``edge`` frame."""
    a = math.radians(angle)
    for half_w, half_h, colour in ((w / 2, h / 2, edge), (w / 2 - 6, h / 2 - 6, fill)):
        pts = [(cx + dx * math.cos(a) - dy * math.sin(a), cy + dx * math.sin(a) + dy * math.cos(a))
               for dx, dy in ((-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h))]
        poly(img, pts, colour)
