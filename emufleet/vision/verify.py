"""The colour and contrast check that turns a correlation peak into a verified match.

``CCOEFF_NORMED`` removes each window's mean and divides by its contrast, so a small flat template (``OK``,
``Confirm``) correlates at ≥ 0.9 with any plain panel edge of the right shape, whatever its colours and contrast
(docs/vision.md). ALAS and Airtest re-check colour after locating; here the check is a map over every offset:

* **contrast**: the correlation ``r`` is re-weighted by the two standard deviations as in SSIM's
  contrast-structure term, ``s = (2·r·σt·σw + C) / (σt² + σw² + C)`` with ``C = (0.03·255)²``: a window must have
  about the template's contrast, not just its shape; a (nearly) flat template scores by flatness instead of by
  its noise, and a perfectly flat one (``r`` undefined) is handled the same way.
* **colour**: ``c = 1 − ‖μw − μt‖∞ / COLOUR_RANGE``, the largest per-channel difference of the mean colours.

The verified score is ``min(s, c)``. Statistics use the template's mask when it has one.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["COLOUR_RANGE", "CONTRAST_C", "colour_scores", "locator_scores", "verified_scores"]

CONTRAST_C = (0.03 * 255.0) ** 2
"""SSIM's K2 constant: contrasts below ≈ 7.6 grey levels count as flat."""

COLOUR_RANGE = 128.0
"""A mean-colour difference of this many levels (per channel) scores 0; 12.8 levels cost 0.1."""


def _core(h: int, w: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the template's core: its outer pixel ring dropped along sides ≥ 3 px.

    Resampling (the window's downscale, a 97–103 % capture) blends that ring with the surroundings; one blended row
    of a flat 15-px template already gives it a contrast of 14 levels.
    """
    dy, dx = int(h >= 3), int(w >= 3)
    return dy, dx, h - 2 * dy, w - 2 * dx


def _windowed(shape: tuple[int, ...], h: int, w: int, weights: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A function mapping an (H, W) float32 plane to its per-offset weighted window means (H', W').

    Planes, not (H, W, C) arrays: numpy's arithmetic over a strided last axis of 3 is several times slower.
    """
    out_h, out_w = shape[0] - h + 1, shape[1] - w + 1
    top, left, ch, cw = _core(h, w)
    if weights[top: top + ch, left: left + cw].all() and not weights.sum() > ch * cw:
        # No mask: box filters over the core (O(1) per pixel).
        def box(a: np.ndarray) -> np.ndarray:
            out = cv2.boxFilter(a, -1, (cw, ch), anchor=(0, 0), normalize=True, borderType=cv2.BORDER_CONSTANT)
            return out[top: top + out_h, left: left + out_w]

        return box
    total = float(weights.sum())

    def weighted(a: np.ndarray) -> np.ndarray:
        return cv2.matchTemplate(a, weights, cv2.TM_CCORR) / total

    return weighted


def _planes(image: np.ndarray) -> list[np.ndarray]:
    """The channels of an (H, W[, C]) uint8 image as contiguous (H, W) planes."""
    return [image] if image.ndim == 2 else list(cv2.split(image))


def _window_means(image: np.ndarray, h: int, w: int, weights: np.ndarray) -> list[np.ndarray]:
    """Per-offset channel means, one (H', W') float32 plane per channel, of ``h``×``w`` windows under ``weights``."""
    stat = _windowed(image.shape, h, w, weights)
    return [stat(p.astype(np.float32)) for p in _planes(image)]


def _window_stats(image: np.ndarray, h: int, w: int, weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-offset channel means (one (H', W') plane per channel) and pooled variance (H', W') of ``h``×``w``
    windows under ``weights``."""
    stat = _windowed(image.shape, h, w, weights)
    means: list[np.ndarray] = []
    pooled: np.ndarray | None = None
    for plane in _planes(image):
        values = plane.astype(np.float32)
        mean = stat(values)
        var = np.maximum(stat(values * values) - mean * mean, 0.0)
        pooled = var if pooled is None else np.add(pooled, var, out=pooled)
        means.append(mean)
    assert pooled is not None  # an image has at least one channel
    return means, pooled / len(means)


def _core_weights(template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    h, w = template.shape[:2]
    top, left, ch, cw = _core(h, w)
    weights = np.zeros((h, w), np.float32)
    weights[top: top + ch, left: left + cw] = 1.0
    if mask is not None:
        weights *= (mask > 0)
        if not weights.any():  # a mask with no core: fall back to the mask itself
            weights = (mask > 0).astype(np.float32)
    return weights


def _template_stats(template: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, float]:
    pixels = template.astype(np.float32).reshape(*template.shape[:2], -1)[weights > 0]
    mean = pixels.mean(axis=0)
    return mean, float(((pixels - mean) ** 2).mean())


def _combine(colour_mean: tuple[np.ndarray, list[np.ndarray]], variance: tuple[float, np.ndarray] | None,
             correlation: np.ndarray | None) -> np.ndarray:
    """``min(structure, colour)`` from the statistics; colour only when ``variance`` is ``None``."""
    t_mean, w_means = colour_mean
    diff = np.abs(w_means[0] - t_mean[0])
    for c in range(1, len(w_means)):
        np.maximum(diff, np.abs(w_means[c] - t_mean[c]), out=diff)
    score = 1.0 - diff / COLOUR_RANGE
    if variance is not None and correlation is not None:
        t_var, w_var = variance
        r = np.nan_to_num(correlation, nan=0.0, posinf=0.0, neginf=0.0)
        structure = (2.0 * r * np.sqrt(t_var * w_var) + CONTRAST_C) / (t_var + w_var + CONTRAST_C)
        score = np.minimum(structure, score)
    return np.clip(score, 0.0, 1.0, out=score).astype(np.float32, copy=False)


def colour_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The colour term alone, ``1 − ‖μw − μt‖∞ / COLOUR_RANGE``: (H−h+1, W−w+1) float32 in [0, 1].

    Any matcher's map can be verified with it (``min(scores, colour_scores(...))``); docs/vision.md does so.
    """
    h, w = template.shape[:2]
    weights = _core_weights(template, mask)
    t_mean, _ = _template_stats(template, weights)
    return _combine((t_mean, _window_means(image, h, w, weights)), None, None)


def verified_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None,
                    correlation: np.ndarray) -> np.ndarray:
    """The verified score map ``min(contrast-structure, colour)``: (H−h+1, W−w+1) float32 in [0, 1].

    ``correlation`` is the ``CCOEFF_NORMED`` map of ``template`` over ``image`` (unclipped values welcome).
    Means and contrasts are taken over the template's core (:func:`_core`) and its mask.
    """
    h, w = template.shape[:2]
    weights = _core_weights(template, mask)
    t_mean, t_var = _template_stats(template, weights)
    w_mean, w_var = _window_stats(image, h, w, weights)
    return _combine((t_mean, w_mean), (t_var, w_var), correlation)


def locator_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A cheaper stand-in for :func:`verified_scores` to find peaks over large areas: correlation and contrast
    from the grey image (one channel instead of three), colour from the colour means. (H−h+1, W−w+1) float32."""
    h, w = template.shape[:2]
    grey, grey_tpl = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.cvtColor(template, cv2.COLOR_BGR2GRAY)
    weights = _core_weights(template, mask)
    t_mean, _ = _template_stats(template, weights)
    _, t_var = _template_stats(grey_tpl, weights)
    w_mean = _window_means(image, h, w, weights)
    _, w_var = _window_stats(grey, h, w, weights)
    correlation = cv2.matchTemplate(grey, grey_tpl, cv2.TM_CCOEFF_NORMED, mask=mask)
    return _combine((t_mean, w_mean), (t_var, w_var), correlation)
