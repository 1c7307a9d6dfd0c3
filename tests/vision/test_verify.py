"""The verification maps on their own: exact statistics, also for windows whose squares overflow int32."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emufleet.vision import CoordinateSpace, Template, match
from emufleet.vision.verify import COLOUR_FREE, agreement, verified_scores


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


def _agreement_reference(window: np.ndarray, template: np.ndarray, mask: np.ndarray | None,
                         tolerance: float) -> float:
    """verify.agreement in float64 numpy, straight from its definition (core = the outer ring dropped)."""
    h, w = template.shape[:2]
    top, left = int(h >= 3), int(w >= 3)
    core = np.s_[top: h - top, left: w - left]
    weights = (np.ones((h, w), bool) if mask is None else mask > 0)[core]
    if not weights.any():
        return 1.0  # nothing of the core to compare
    win, tpl = window[core].astype(np.float64), template[core].astype(np.float64)
    shift = np.clip(win[weights].mean(axis=0) - tpl[weights].mean(axis=0), -COLOUR_FREE, COLOUR_FREE)
    return float((np.abs(win - tpl - shift).max(axis=2)[weights] <= tolerance + 1e-9).mean())


def test_pixel_agreement_matches_its_definition_under_masks() -> None:
    """The int16 OpenCV agreement (verify.agreement) against its float64 definition: random windows near and far
    from the template (mean shifts inside and past COLOUR_FREE), with and without a mask, shapes from 1 px."""
    rng = np.random.default_rng(5)
    for trial in range(300):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        tpl = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        near = tpl.astype(int) + rng.integers(-60, 60, (h, w, 3)) + rng.integers(-20, 20, 3)
        win = (np.clip(near, 0, 255) if trial % 3 else rng.integers(0, 256, (h, w, 3))).astype(np.uint8)
        mask = (rng.random((h, w)) > 0.3).astype(np.uint8) * 255 if trial % 2 else None
        if mask is not None:
            mask[h // 2, w // 2] = 255  # never empty (a template set refuses an empty mask)
        tolerance = (40.0, 17.5, 10.0)[trial % 3]
        assert agreement(win, tpl, mask, tolerance) == pytest.approx(
            _agreement_reference(win, tpl, mask, tolerance), abs=1e-12), (trial, h, w)


def _scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """(h, w, 3) uint8 blocky UI-like texture: random panels at a few px each, some noise."""
    blocks = rng.integers(0, 256, (max(2, h // 4), max(2, w // 4), 3), dtype=np.uint8)
    image = cv2.resize(blocks, (w, h), interpolation=cv2.INTER_NEAREST).astype(int)
    return np.clip(image + rng.integers(-6, 7, (h, w, 3)), 0, 255).astype(np.uint8)


def test_the_correlation_bounds_the_verified_score_and_its_peaks_find_the_match() -> None:
    """peaks.verified_peaks verifies only correlation peaks, relying on v ≤ β + (1 − β)·clip(r, 0, 1) at every
    offset (its docstring); the bound is checked on the whole verified map, then the found peak against the map's
    best (textured templates cut from the scene, shifted in colour), and floor 0 against the map's peaks."""
    from emufleet.vision.peaks import nms_peaks, verified_peaks
    from emufleet.vision.verify import CONTRAST_C, CONTRAST_FREE

    rng = np.random.default_rng(20)
    for trial in range(150):
        th, tw = (int(v) for v in rng.integers(6, 40, 2))
        scene = _scene(rng, th + int(rng.integers(8, 60)), tw + int(rng.integers(8, 60)))
        y, x = int(rng.integers(0, scene.shape[0] - th + 1)), int(rng.integers(0, scene.shape[1] - tw + 1))
        tpl = np.clip(scene[y: y + th, x: x + tw].astype(int) + int(rng.integers(-8, 9)), 0, 255).astype(np.uint8)
        r = cv2.matchTemplate(scene, tpl, cv2.TM_CCOEFF_NORMED)
        scores = verified_scores(scene, tpl, None, r)
        variance = float(tpl[1:-1, 1:-1].reshape(-1, 3).astype(np.float64).var(axis=0).mean())
        beta = CONTRAST_C / (CONTRAST_FREE * (variance + CONTRAST_C))
        assert (scores <= beta + (1 - beta) * np.clip(np.nan_to_num(r), 0, 1) + 1e-5).all(), trial
        if beta < 0.35:  # a textured template: correlation peaks
            best = verified_peaks(scene, tpl, None, 5, 0.35)[0]
            assert best[0] == pytest.approx(float(scores.max()), abs=1e-4), trial
            assert abs(best[1] - x) <= 1 and abs(best[2] - y) <= 1, (trial, best, (x, y))
        exact = nms_peaks(scores, 5, tw, th)
        assert [p[1:] for p in verified_peaks(scene, tpl, None, 5, 0.0)] == [p[1:] for p in exact], trial
