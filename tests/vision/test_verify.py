"""The verification maps on their own: exact statistics, also for windows whose squares overflow int32."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from emufleet.vision import CoordinateSpace, Template, match
from emufleet.vision.verify import verified_scores


def _bright_template(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A mostly white button-like image (h, w, 3) uint8 with dark text strokes: Σx² of a window ≫ 2³¹."""
    image = np.full((h, w, 3), 250, np.uint8)
    for _ in range(12):
        x, y = int(rng.integers(5, w - 40)), int(rng.integers(5, h - 12))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(8, 40)), y + int(rng.integers(3, 10))), (40, 60, 90), -1)
    return image


def test_large_bright_template_scores_like_a_float64_reference() -> None:
    """Regression: OpenCV's sqrBoxFilter sums 8-bit squares in int32; a 260×180 white window wrapped to a
    variance of 0 (score 0.008 for a real match, issue 11)."""
    rng = np.random.default_rng(4)
    tpl = _bright_template(rng, 180, 260)
    assert float((tpl.astype(np.float64) ** 2).sum(axis=(0, 1)).max()) > 2**31
    image = np.full((220, 300, 3), 245, np.uint8)
    image[17:197, 23:283] = tpl
    scores = verified_scores(image, tpl, None, cv2.matchTemplate(image, tpl, cv2.TM_CCOEFF_NORMED))
    assert scores[17, 23] >= 0.99
    assert np.unravel_index(int(np.argmax(scores)), scores.shape) == (17, 23)


def test_large_bright_template_is_found_by_match() -> None:
    rng = np.random.default_rng(9)
    space = CoordinateSpace(width=900, height=1600, title_bar=0, device_width=900, device_height=1600)
    image = _bright_template(rng, 200, 340)
    image.setflags(write=False)
    tpl = Template(name="big", path=Path("big.png"), threshold=None, region=None, scale=1.0, image=image, mask=None)
    frame = np.full((1600, 900, 3), 235, np.uint8)
    frame[900:1100, 280:620] = image
    result = match(frame, tpl, space=space)
    assert result.found and result.best is not None
    assert result.best.score >= 0.95 and result.best.device_top_left == (280, 900)
