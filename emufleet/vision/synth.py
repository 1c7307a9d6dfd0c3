"""Synthetic screens for calibration, tests and benchmarks: templates composed onto backgrounds.

Screens are drawn in template (window) space, then mapped to device frames exactly as the simulator maps its
screens (:meth:`CoordinateSpace.space_to_frame`): the round trip window → device → window that a real capture
goes through. ``busy_window`` draws the hard negatives of docs/vision.md: panels with borders, gradients, text,
lines and noise — the plain edges on which small flat templates (``OK``, ``Confirm``…) correlate at ≥ 0.9.
"""

from __future__ import annotations

import cv2
import numpy as np

from emufleet.vision.registry import Template
from emufleet.vision.space import CoordinateSpace

__all__ = ["busy_window", "paste", "paste_template", "plain_window", "rescale_window"]


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    b, g, r = rng.integers(0, 256, 3)
    return int(b), int(g), int(r)


def plain_window(rng: np.random.Generator, space: CoordinateSpace) -> np.ndarray:
    """A (height, width, 3) BGR window: a solid colour or a vertical gradient, mild noise, black title bar."""
    h, w = space.height, space.width
    if rng.random() < 0.5:
        img = np.empty((h, w, 3), np.float32)
        img[:] = _colour(rng)
    else:
        top, bottom = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
        t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
        img = np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).copy()
    img += rng.normal(0.0, 2.0, img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    out[: space.title_bar] = 0
    return out


def busy_window(rng: np.random.Generator, space: CoordinateSpace, *, panels: int = 14) -> np.ndarray:
    """A (height, width, 3) BGR window full of UI-like clutter: panels, borders, gradients, text, lines, noise."""
    img = plain_window(rng, space)
    h, w = space.height, space.width
    for _ in range(panels):
        x1, y1 = int(rng.integers(-20, w)), int(rng.integers(space.title_bar - 10, h))
        x2, y2 = x1 + int(rng.integers(8, 160)), y1 + int(rng.integers(6, 120))
        kind = rng.random()
        if kind < 0.45:  # flat panel, often with a border: the classic false positive for flat templates
            cv2.rectangle(img, (x1, y1), (x2, y2), _colour(rng), -1)
            if rng.random() < 0.7:
                cv2.rectangle(img, (x1, y1), (x2, y2), _colour(rng), int(rng.integers(1, 4)))
        elif kind < 0.65:  # gradient panel
            xa, ya, xb, yb = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
            if xb > xa and yb > ya:
                t = np.linspace(0.0, 1.0, xb - xa, dtype=np.float32)[None, :, None]
                a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
                img[ya:yb, xa:xb] = np.broadcast_to(a * (1 - t) + b * t, (yb - ya, xb - xa, 3)).astype(np.uint8)
        elif kind < 0.85:  # text
            text = "".join(chr(int(c)) for c in rng.integers(48, 91, int(rng.integers(2, 9))))
            cv2.putText(img, text, (x1, y1), int(rng.choice([0, 2, 3, 4])), float(rng.uniform(0.3, 0.9)),
                        _colour(rng), int(rng.integers(1, 3)), cv2.LINE_AA)
        else:  # lines
            cv2.line(img, (x1, y1), (x2, y2), _colour(rng), int(rng.integers(1, 4)), cv2.LINE_AA)
    noisy = img.astype(np.float32) + rng.normal(0.0, float(rng.uniform(0.0, 6.0)), img.shape).astype(np.float32)
    out = np.clip(noisy, 0, 255).astype(np.uint8)
    out[: space.title_bar] = 0
    return out


def paste(window: np.ndarray, image: np.ndarray, top_left: tuple[int, int], mask: np.ndarray | None = None,
          alpha: np.ndarray | None = None) -> None:
    """Draw ``image`` (h, w, 3) into ``window`` in place at ``top_left`` (x, y), clipped to the window.

    ``alpha`` (h, w) float 0–1 blends (as the simulator does); else ``mask`` (h, w) 0/255 selects pixels; else
    opaque.
    """
    x, y = top_left
    h, w = image.shape[:2]
    H, W = window.shape[:2]
    xa, ya, xb, yb = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if xb <= xa or yb <= ya:
        return
    src = image[ya - y: yb - y, xa - x: xb - x]
    dst = window[ya:yb, xa:xb]
    if alpha is not None:
        a = alpha[ya - y: yb - y, xa - x: xb - x, None].astype(np.float32)
        dst[:] = np.round(src * a + dst * (1.0 - a)).astype(np.uint8)
    elif mask is not None:
        keep = mask[ya - y: yb - y, xa - x: xb - x] > 0
        dst[keep] = src[keep]
    else:
        dst[:] = src


def rescale_window(window: np.ndarray, factor: float, space: CoordinateSpace,
                   centre: tuple[float, float] | None = None) -> np.ndarray:
    """The board of ``window`` zoomed by ``factor`` about ``centre`` (template px; default the board's centre).

    Models a capture a few per cent off the template's scale (window size, DPI, MuMu version).
    """
    cx, cy = centre if centre is not None else (space.width / 2, space.title_bar + space.board_height / 2)
    m = np.array([[factor, 0.0, cx * (1 - factor)], [0.0, factor, cy * (1 - factor)]], np.float32)
    out = cv2.warpAffine(window, m, (window.shape[1], window.shape[0]), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    out[: space.title_bar] = 0
    return out


def paste_template(frame: np.ndarray, template: Template, at: tuple[int, int], space: CoordinateSpace,
                   scale: float = 1.0) -> tuple[int, int]:
    """Draw ``template`` on a device ``frame`` in place, its top-left at template-space ``at``.

    Done as the simulator's scenario overlays are (:meth:`CoordinateSpace.image_to_device`, top-left rounded from
    :meth:`CoordinateSpace.to_device`, the mask as alpha); ``scale`` ≠ 1 draws it that much larger or smaller,
    as an off-scale capture would show it. Returns the device top-left (x, y).
    """
    if scale == 1.0:
        image = space.image_to_device(template.image)
    else:
        w, h = template.size
        size = (max(1, round(w * space.scale_x * scale)), max(1, round(h * space.scale_y * scale)))
        image = cv2.resize(template.image, size, interpolation=cv2.INTER_LINEAR)
    alpha = None
    if template.mask is not None:
        alpha = cv2.resize((template.mask > 0).astype(np.float32), (image.shape[1], image.shape[0]),
                           interpolation=cv2.INTER_LINEAR)
    fx, fy = space.to_device(*at)
    x, y = round(fx), round(fy)
    paste(frame, image, (x, y), alpha=alpha)
    return x, y
