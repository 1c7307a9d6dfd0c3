"""The colour and contrast check that turns a correlation peak into a verified match.

``CCOEFF_NORMED`` removes each window's mean and divides by its contrast, so a small flat template (``OK``,
``Confirm``) correlates at ≥ 0.9 with any plain panel edge of the right shape, whatever its colours and contrast
(docs/vision.md). ALAS and Airtest re-check colour after locating; here the check is a map over every offset:

* **contrast**: the correlation ``r`` is re-weighted by the two standard deviations as in SSIM's
  contrast-structure term, ``s = (2·r·σt·σw + C) / (σt² + σw² + C)`` with ``C = (0.03·255)²``: a window must have
  about the template's contrast, not just its shape; a (nearly) flat template scores by flatness instead of by
  its noise, and a perfectly flat one (``r`` undefined) is handled the same way.
* **colour**: ``c = 1 − ‖μw − μt‖∞ / COLOUR_RANGE``, the largest per-channel difference of the mean colours.

The verified score is ``min(s, c)``, both with tolerances calibrated on real captures (``CONTRAST_FREE``,
``COLOUR_FREE``; issue 11's dev set, docs/vision.md "Real screens"). At the candidates only, the search caps it by
the **pixel agreement** (:func:`agreement`), and :func:`structure` tells the *low-texture* templates, which
:func:`emufleet.vision.match` finds only inside a region and where unique (``AMBIGUITY``). Statistics use the
template's mask when it has one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import cv2
import numpy as np

__all__ = ["AGREEMENT_FULL", "AGREEMENT_TOLERANCE", "AMBIGUITY", "COLOUR_FREE", "COLOUR_RANGE", "CONTRAST_C",
           "CONTRAST_FREE", "STRUCTURE_MIN", "agreement", "agreement_cap", "colour_scores", "locator_scores",
           "structure", "verified_scores"]

CONTRAST_C = (0.03 * 255.0) ** 2
"""SSIM's K2 constant: contrasts below ≈ 7.6 grey levels count as flat."""

COLOUR_RANGE = 128.0
"""Past :data:`COLOUR_FREE`, a mean-colour difference of this many more levels (per channel) scores 0."""

COLOUR_FREE = 12.0
"""Mean-colour differences up to this many levels cost nothing: real captures of one button differ by ≈ 4–11
levels between emulators and dimming (the dev set's checked pairs, docs/vision.md)."""

CONTRAST_FREE = 0.72
"""SSIM's contrast term at a contrast ratio of 0.4 (σ 2.5× apart): closer contrasts cost nothing, a faint text
(a fading "Tap to Proceed" at 0.43 of its template's contrast) still scores its correlation."""


def _core(h: int, w: int) -> tuple[int, int, int, int]:
    """``(top, left, height, width)`` of the template's core: its outer pixel ring dropped along sides ≥ 3 px.

    Resampling (the window's downscale, a 97–103 % capture) blends that ring with the surroundings; one blended row
    of a flat 15-px template already gives it a contrast of 14 levels.
    """
    dy, dx = int(h >= 3), int(w >= 3)
    return dy, dx, h - 2 * dy, w - 2 * dx


_INT32_SUM_LIMIT = 2**31 - 1
_BOX = {"anchor": (0, 0), "normalize": True, "borderType": cv2.BORDER_CONSTANT}


def _window_stats(image: np.ndarray, ref: _Reference, variance: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-offset channel means (H', W', C) float32 and, with ``variance``, pooled variance (H', W') float32 of
    template-sized windows of ``image`` (H, W[, C]) under the template's core weights (``ref``).

    Without a mask: box filters over the core (O(1) per pixel), summed in float64 and rounded to float32 once,
    which is what OpenCV does for float32 input, so no float32 copy of the image is needed.
    """
    img = image if image.ndim == 3 else image[:, :, None]
    h, w = ref.weights.shape
    out_h, out_w = img.shape[0] - h + 1, img.shape[1] - w + 1
    top, left, ch, cw = _core(h, w)
    if ref.boxed:
        def stat(filter_fn: Callable[..., np.ndarray], src: np.ndarray) -> np.ndarray:
            out = filter_fn(src, cv2.CV_64F, (cw, ch), **_BOX).reshape(img.shape)
            return out[top: top + out_h, left: left + out_w].astype(np.float32)

        mean = stat(cv2.boxFilter, img)
        squares = None
        if variance:
            # OpenCV sums the squares of 8-bit input in int32: past 2³¹ (≈ 33,000 white pixels) they wrap and
            # the variance comes out 0 or negative. Larger windows square float input (summed in float64).
            safe = img if ch * cw * 255 * 255 < _INT32_SUM_LIMIT or img.dtype != np.uint8 else img.astype(np.float32)
            squares = stat(cv2.sqrBoxFilter, safe)
    else:  # masked: correlate each channel with the weights
        weights = ref.weights
        total = float(weights.sum())
        planes = [np.ascontiguousarray(img[:, :, c], dtype=np.float32) for c in range(img.shape[2])]
        mean = np.dstack([cv2.matchTemplate(p, weights, cv2.TM_CCORR) / total for p in planes])
        squares = np.dstack([cv2.matchTemplate(p * p, weights, cv2.TM_CCORR) / total
                             for p in planes]) if variance else None
    if squares is None:
        return mean, None
    var = np.subtract(squares, mean * mean, out=squares)
    np.maximum(var, 0.0, out=var)
    pooled = np.array(var[:, :, 0], copy=True)
    for c in range(1, var.shape[2]):
        np.add(pooled, var[:, :, c], out=pooled)
    return mean, np.divide(pooled, var.shape[2], out=pooled)


class _Reference(NamedTuple):
    """A template's side of the check: core weights (h, w) float32, mean colour (C,) float32, pooled variance;
    ``boxed`` when the weights are exactly the core (no mask), so window statistics are box filters;
    ``core_mask`` (core h, core w) uint8 0/255 of the weighted core pixels (``None``: all of them), their count and
    the mean colour in float64, for :func:`agreement`."""

    weights: np.ndarray
    mean: np.ndarray
    variance: float
    boxed: bool
    core_mask: np.ndarray | None
    core_count: int
    exact_mean: tuple[float, ...]


_BY_IDENTITY: dict[tuple[int, int], tuple[np.ndarray, np.ndarray | None, _Reference]] = {}
_BY_IDENTITY_MAX = 1024


def _reference(template: np.ndarray, mask: np.ndarray | None) -> _Reference:
    """:class:`_Reference` of ``template`` (h, w[, C]) under ``mask``, cached by content: the same few templates
    are checked on every frame, and their statistics cost more than a small search area's. Read-only arrays (a
    template set's images and their cached resizes) are looked up by identity first: hashing a large template's
    bytes on every call cost more than a small region's whole check."""
    frozen = not template.flags.writeable and (mask is None or not mask.flags.writeable)
    key = (id(template), id(mask))
    if frozen:
        hit = _BY_IDENTITY.get(key)
        if hit is not None and hit[0] is template and hit[1] is mask:
            return hit[2]
    ref = _reference_of((template.shape, template.dtype.str, template.tobytes(),
                         None if mask is None else mask.tobytes()))
    if frozen:
        if len(_BY_IDENTITY) >= _BY_IDENTITY_MAX:
            _BY_IDENTITY.clear()
        _BY_IDENTITY[key] = (template, mask, ref)  # holding the arrays keeps their ids from being reused
    return ref


@functools.lru_cache(maxsize=4096)
def _reference_of(key: tuple[tuple[int, ...], str, bytes, bytes | None]) -> _Reference:
    shape, dtype, data, mask_data = key
    template = np.frombuffer(data, dtype).reshape(shape)
    mask = None if mask_data is None else np.frombuffer(mask_data, np.uint8).reshape(shape[:2])
    weights = _core_weights(template, mask)
    pixels = template.astype(np.float32).reshape(*shape[:2], -1)[weights > 0]
    mean = pixels.mean(axis=0)
    top, left, ch, cw = _core(*shape[:2])
    core = weights[top: top + ch, left: left + cw] > 0
    core_mask = None if core.all() else core.astype(np.uint8) * 255
    for array in (weights, mean, core_mask):
        if array is not None:
            array.flags.writeable = False  # shared through the cache
    boxed = bool(core.all()) and not weights.sum() > ch * cw
    return _Reference(weights, mean, float(((pixels - mean) ** 2).mean()), boxed, core_mask, int(core.sum()),
                      tuple(pixels.astype(np.float64).mean(axis=0).tolist()))


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


def _combine(t_mean: np.ndarray, w_mean: np.ndarray, variance: tuple[float, np.ndarray] | None,
             correlation: np.ndarray | None) -> np.ndarray:
    """``min(structure, colour)`` from the statistics (means (C,) and (..., C): a map (H', W', C) or offsets
    (N, C)); colour only when ``variance`` is ``None``. In place on fresh arrays, in the order of the formulas (the
    same float32 roundings)."""
    diff = np.abs(w_mean[..., 0] - t_mean[0])
    for c in range(1, w_mean.shape[-1]):
        np.maximum(diff, np.abs(w_mean[..., c] - t_mean[c]), out=diff)
    np.subtract(diff, COLOUR_FREE, out=diff)
    np.maximum(diff, 0.0, out=diff)
    score = np.subtract(1.0, np.divide(diff, COLOUR_RANGE, out=diff), out=diff)
    if variance is not None and correlation is not None:
        t_var, w_var = variance
        cross = np.sqrt(t_var * w_var)
        np.multiply(cross, 2.0, out=cross)
        structure = np.where(np.isfinite(correlation), correlation, 0.0)  # undefined r (flat window) → 0
        np.multiply(structure, cross, out=structure)
        np.add(structure, CONTRAST_C, out=structure)
        # SSIM's contrast term k = (2σtσw + C)/(σt² + σw² + C) divided out down to CONTRAST_FREE: r itself while
        # the contrasts are within a factor ≈ 2 of each other, penalised beyond.
        np.add(cross, CONTRAST_C, out=cross)
        denominator = np.add(t_var + CONTRAST_C, w_var)
        np.maximum(cross, np.multiply(denominator, CONTRAST_FREE), out=cross)
        np.divide(structure, cross, out=structure)
        np.minimum(structure, score, out=score)
    clipped: np.ndarray = np.clip(score, 0.0, 1.0, out=score)
    return clipped.astype(np.float32, copy=False)


def colour_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """The colour term alone, ``1 − ‖μw − μt‖∞ / COLOUR_RANGE``: (H−h+1, W−w+1) float32 in [0, 1].

    Any matcher's map can be verified with it (``min(scores, colour_scores(...))``); docs/vision.md does so.
    """
    ref = _reference(template, mask)
    w_mean, _ = _window_stats(image, ref, variance=False)
    return _combine(ref.mean, w_mean, None, None)


def verified_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None,
                    correlation: np.ndarray) -> np.ndarray:
    """The verified score map ``min(contrast-structure, colour)``: (H−h+1, W−w+1) float32 in [0, 1].

    ``correlation`` is the ``CCOEFF_NORMED`` map of ``template`` over ``image`` (unclipped values welcome).
    Means and contrasts are taken over the template's core (:func:`_core`) and its mask.
    """
    ref = _reference(template, mask)
    w_mean, w_var = _window_stats(image, ref)
    assert w_var is not None
    return _combine(ref.mean, w_mean, (ref.variance, w_var), correlation)


def locator_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A cheaper stand-in for :func:`verified_scores` to find peaks over large areas: correlation and contrast
    from the grey image (one channel instead of three), colour from the colour means. (H−h+1, W−w+1) float32."""
    grey, grey_tpl = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.cvtColor(template, cv2.COLOR_BGR2GRAY)
    ref, grey_ref = _reference(template, mask), _reference(grey_tpl, mask)
    w_mean, _ = _window_stats(image, ref, variance=False)
    _, w_var = _window_stats(grey, grey_ref)
    assert w_var is not None
    correlation = cv2.matchTemplate(grey, grey_tpl, cv2.TM_CCOEFF_NORMED, mask=mask)
    return _combine(ref.mean, w_mean, (grey_ref.variance, w_var), correlation)


AGREEMENT_TOLERANCE = 40
"""Levels per channel within which a pixel agrees with the template (how the dev set's pairs were screened)."""

AGREEMENT_FULL = 0.75
"""An agreement share at or above this costs nothing; below it the score is capped at ``share / AGREEMENT_FULL``.
The dev set's true pairs agree on ≥ 0.85 of their pixels; correlation peaks on busy clutter on ≈ 0.3–0.6."""


_EXACT = 1e-9  # a mean's float rounding, far below 1 / pixels


def agreement(window: np.ndarray, template: np.ndarray, mask: np.ndarray | None,
              tolerance: float = AGREEMENT_TOLERANCE) -> float:
    """Share of the template's pixels (its core, under ``mask``) whose every channel is within ``tolerance``
    levels of ``window``'s, after removing the mean colour difference up to :data:`COLOUR_FREE` levels (the
    colour term judges larger shifts). ``window`` and ``template``: (h, w, 3) uint8, same shape. In [0, 1]."""
    ref = _reference(template, mask)
    top, left, ch, cw = _core(*template.shape[:2])
    core = np.s_[top: top + ch, left: left + cw]
    if ref.core_count == 0:
        return 1.0
    # |win − tpl − shift| ≤ tolerance per channel is win − tpl within [shift − tolerance, shift + tolerance]: on
    # integer differences, within [ceil(lo), floor(hi)] (both ends kept when exact, whatever the float rounding of
    # a mean). In int16 with OpenCV: no float copies of the window, one pass per step.
    win = window[core]
    shift = np.clip(np.subtract(cv2.mean(win, mask=ref.core_mask)[:3], ref.exact_mean), -COLOUR_FREE, COLOUR_FREE)
    diff = cv2.subtract(win, template[core], dtype=cv2.CV_16S)
    low, high = np.ceil(shift - tolerance - _EXACT), np.floor(shift + tolerance + _EXACT)
    inside = cv2.inRange(diff, tuple(low.tolist()), tuple(high.tolist()))
    if ref.core_mask is not None:
        inside = cv2.bitwise_and(inside, ref.core_mask)
    return cv2.countNonZero(inside) / ref.core_count


def agreement_cap(share: float, full: float | None = None) -> float:
    """The score cap an :func:`agreement` share imposes: 1 at ≥ ``full`` (default :data:`AGREEMENT_FULL`; a
    template's registry ``agreement:``), linear below."""
    return min(1.0, share / (full or AGREEMENT_FULL))


STRUCTURE_MIN = 10.0
"""Below this :func:`structure` a template is *low-texture*: nothing but 1-D edges and smooth gradients (a panel's
rounded end, a bar, a two-tone split). Any panel edge of its colours matches it pixel for pixel, so it is only
reported where it is unique (:data:`AMBIGUITY`). On the dev set: the 14 low-texture needles ≤ 7.1, the 58
needles with pairs ≥ 16.5."""

AMBIGUITY = 0.3
"""For low-texture templates a candidate's score is capped at ``1 − AMBIGUITY + u``, ``u`` its lead over the best
*other* distinct candidate (not overlapping it): at the default threshold 0.8 a perfect best must lead the
runner-up by 0.1. Over the whole board (no region) low-texture scores are capped at ``1 − AMBIGUITY``: never found."""


def structure(template: np.ndarray, mask: np.ndarray | None = None) -> float:
    """How much 2-D structure (corners, strokes) ``template`` (h, w, 3) uint8 has, in grey levels: the square
    root of the 99th percentile of the Shi–Tomasi corner response (smaller eigenvalue of the 3×3 structure
    tensor) inside it, measured with the template area-downscaled until its smaller side is ≤ 24 px (a large
    crop's corners spread over many px). 0 for a template under 3 px thick."""
    return _structure_of((template.shape, template.tobytes(), None if mask is None else mask.tobytes()))


@functools.lru_cache(maxsize=4096)
def _structure_of(key: tuple[tuple[int, ...], bytes, bytes | None]) -> float:
    shape, data, mask_data = key
    image: np.ndarray = np.frombuffer(data, np.uint8).reshape(shape)
    h, w = shape[:2]
    if min(h, w) < 3:
        return 0.0
    keep = np.ones((h, w), bool) if mask_data is None else np.frombuffer(mask_data, np.uint8).reshape(h, w) > 0
    factor = min(1.0, 24.0 / min(h, w))
    if factor < 1.0:
        size = (max(3, round(w * factor)), max(3, round(h * factor)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        keep = cv2.resize(keep.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    grey: np.ndarray = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY).astype(np.float32)
    response = cv2.cornerMinEigenVal(grey, 3, ksize=3)[1:-1, 1:-1][keep[1:-1, 1:-1]]
    return float(np.sqrt(max(0.0, np.percentile(response, 99)))) if response.size else 0.0
