"""Candidate search inside one image: the declared scale, then a scale sweep around the promising peaks.

Two ways to try a scale ``s``: resize the *template* to ``s`` (on the device grid, where the template is scaled
onto device pixels anyway), or resample the *searched image* by ``1/s`` and keep the template at its native
pixels (template space, ``resample=True``). The second is what users of plain OpenCV do with a screenshot and a
needle, and it holds on real captures: a 15-px needle resized to 14 px loses its 1-px strokes (raw correlation
0.79 where the resampled screen gives 0.87 on the dev set's tablet screens, docs/vision.md).
"""

from __future__ import annotations

import functools
import math
from typing import TypeVar

import cv2
import numpy as np

from emufleet.vision.matchers import Matcher
from emufleet.vision.peaks import Floor, nms_peaks
from emufleet.vision.registry import Template
from emufleet.vision.verify import agreement, agreement_cap

__all__ = ["Cand", "DEFAULT_SCALE_TOLERANCE", "distinct", "grid_loss", "promising", "scaled", "search"]

DEFAULT_SCALE_TOLERANCE = 0.04
"""The scale sweep of templates whose registry declares none: ±4 %."""
SCALE_STEP = 0.02
PEAKS = 5  # peaks kept per map; candidates refined by the scale sweep
FLOOR = 0.35  # below this a candidate is not refined (sweep, device grid): nothing lifts it past a threshold
CONFIDENT = 0.985  # at or above this a candidate is not refined further: nothing would change the decision
SURE = CONFIDENT  # template space at least this sure at the declared scale: the device grid is not searched
_DROP = 0.02  # a scale step that loses this much ends the sweep in its direction
AGREEMENT_FROM = 0.6  # candidates scoring less are not checked for pixel agreement (it can only lower them)
REACH = 0.25  # over large areas only peaks this close to the best are refined (sweep, device grid)
SMALL_AREA = 256 * 256  # search areas up to this many pixels are searched in full, larger ones through the locator
LOCATE_FROM = 16  # ... if they are this many times the template's area: the locator saves 2/3 of a map and pays 5
# exact re-scores of a few template areas each (a 324×54 button in a 668×128 region: 1.3× one map, exact 1.0×)

Cand = tuple[float, int, int, float, int, int]  # score, x, y (in the searched image), scale, w, h
_P = TypeVar("_P", tuple[float, int, int], Cand)


@functools.lru_cache(maxsize=4096)
def scaled(template: Template, width: int, height: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``template`` resized to ``width``×``height`` (one interpolation from the original image), cached."""
    if (width, height) == template.size:
        return template.image, template.mask
    w, h = template.size
    interp = cv2.INTER_AREA if width * height < w * h else cv2.INTER_LINEAR
    image = cv2.resize(template.image, (width, height), interpolation=interp)
    mask = None
    if template.mask is not None:
        mask = cv2.resize(template.mask, (width, height), interpolation=cv2.INTER_NEAREST)
        mask.setflags(write=False)
    image.setflags(write=False)  # shared through the cache (and so looked up by identity: verify._reference)
    return image, mask


@functools.lru_cache(maxsize=4096)
def grid_loss(template: Template, matcher: Matcher, fx: float, fy: float) -> float:
    """What template space loses of ``template`` drawn on a device grid ``fx``×``fy`` times finer: 1 − the worst
    ``matcher`` score of the template scaled onto that grid (as the device-grid search scales it) over a background
    of the opposite colour, area-downscaled back (as the frame is), over two sub-pixel phases. In [0, 1], cached.

    The device grid can lift a template-space score by about this much (the simulator draws on it): issue 11's
    calibration, docs/vision.md "Cost".
    """
    w, h = template.size
    device, _ = scaled(template, max(1, round(w * fx)), max(1, round(h * fy)))
    background = [float(255 - v) for v in template.image.reshape(-1, 3).mean(axis=0)]
    pad = math.ceil(max(fx, fy)) + 1
    worst = 1.0
    for phase in (0, max(1, round(min(fx, fy) / 2))):
        canvas = cv2.copyMakeBorder(device, pad + phase, pad, pad + phase, pad, cv2.BORDER_CONSTANT,
                                    value=background)
        back = cv2.resize(canvas, (round(canvas.shape[1] / fx), round(canvas.shape[0] / fy)),
                          interpolation=cv2.INTER_AREA)
        if back.shape[0] >= h and back.shape[1] >= w:
            worst = min(worst, float(matcher.scores(back, template.image, template.mask).max()))
    return 1.0 - worst


@functools.lru_cache(maxsize=4096)
def _sizes(template: Template, tolerance: float, fx: float, fy: float,
           resample: bool) -> tuple[tuple[float, int, int], ...]:
    """``(scale, w, h)`` to try, the declared scale first; ``fx``/``fy`` map template px to search px.

    Resizing the template, scales giving the same whole-pixel size are tried once; resampling the image, every
    step counts (a sub-pixel change of the image's grid still moves the needle's strokes onto other pixels).
    """
    w, h = template.size
    # Steps of 2 %, or of half a pixel of the template's larger side where that is more (a 12-px needle: 4 %).
    step = max(SCALE_STEP, 0.5 / max(1.0, w * template.scale * fx, h * template.scale * fy))
    steps = math.ceil(tolerance / step - 1e-9) if tolerance > 0 else 0
    factors = sorted({0.0, *(k * step for k in range(-steps, steps + 1))}, key=abs)
    out: list[tuple[float, int, int]] = []
    seen: set[tuple[int, int]] = set()
    for f in factors:
        s = template.scale * (1.0 + max(-tolerance, min(tolerance, f)))
        size = (max(1, round(w * s * fx)), max(1, round(h * s * fy)))
        if resample or size not in seen:
            seen.add(size)
            out.append((s, *size))
    return tuple(out)


def _resampled(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resampled by ``1/scale`` (pixel centres aligned), at the exact scale: ``cv2.resize`` would round
    a window a few px wide to its own size (2 % of 23 px) and return it unchanged."""
    size = (int(image.shape[1] / scale), int(image.shape[0] / scale))
    shift = 0.5 * scale - 0.5
    warp = np.array([[scale, 0.0, shift], [0.0, scale, shift]], np.float32)
    if scale > 1.0:  # downscaling: average first, as INTER_AREA would
        image = cv2.blur(image, (3, 3)) if scale > 1.3 else image
    resampled: np.ndarray = cv2.warpAffine(image, warp, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                                           borderMode=cv2.BORDER_REPLICATE)
    return resampled


def _scored_peaks(image: np.ndarray, template: Template, matcher: Matcher, scale: float, size: tuple[int, int],
                  resample: bool, count: int, floor: Floor = 0.0, locate: bool = False) -> list[tuple[float, int, int]]:
    """Peaks ``(score, x, y)`` in ``image`` coordinates of ``template`` at ``scale`` (its size there ``size``): of
    ``matcher.locate``'s map with ``locate``, else of its scores (those after the first down to ``floor``)."""
    tw, th = template.size
    if resample and abs(scale - 1.0) > 1e-9:
        small = _resampled(image, scale)
        if small.shape[1] < tw or small.shape[0] < th:
            return []
        kx = ky = scale
        found = _peaks_of(matcher, small, template.image, template.mask, count, floor, locate)
        return [(v, min(round(x * kx), image.shape[1] - size[0]), min(round(y * ky), image.shape[0] - size[1]))
                for v, x, y in found]
    if size[0] > image.shape[1] or size[1] > image.shape[0]:
        return []
    tpl, mask = scaled(template, *size)
    return _peaks_of(matcher, image, tpl, mask, count, floor, locate)


def _peaks_of(matcher: Matcher, image: np.ndarray, tpl: np.ndarray, mask: np.ndarray | None, count: int,
              floor: Floor, locate: bool) -> list[tuple[float, int, int]]:
    if locate and matcher.locate is not None:
        return nms_peaks(matcher.locate(image, tpl, mask), count, tpl.shape[1], tpl.shape[0])
    if matcher.peaks is not None:
        return matcher.peaks(image, tpl, mask, count, floor)
    return nms_peaks(matcher.scores(image, tpl, mask), count, tpl.shape[1], tpl.shape[0])


def search(roi: np.ndarray, template: Template, matcher: Matcher, tolerance: float, fx: float, fy: float,
           resample: bool = False, decided: float | None = None, floor: Floor = 0.0) -> list[Cand]:
    """Candidates inside ``roi`` (x, y relative to it); the template scaled by ``fx``/``fy`` onto its grid.

    The declared scale is searched over the whole ``roi``; the sweep follows around the promising peaks only
    (≥ ``FLOOR``, within ``REACH`` of the best, at most 3), unless the best is already confident or reaches
    ``decided`` (the caller's threshold: "found" is settled at the declared scale).
    Large areas are located with the matcher's cheaper map and its peaks re-scored exactly within ±2 px.
    ``resample``: try scales by resampling ``roi`` instead of resizing the template (module docstring).
    ``floor``: the declared scale's peaks after the best that score below it are left out (the caller neither
    reports nor refines them; at most ``FLOOR``, which the sweep needs); a function of the best score where the
    caller needs fewer once it is settled (applied only while the best stays settled after the agreement check).
    """
    sizes = [(s, w, h) for s, w, h in _sizes(template, tolerance, fx, fy, resample)
             if w <= roi.shape[1] and h <= roi.shape[0]]
    if not sizes:
        return []
    scale, w, h = sizes[0]
    small = (roi.shape[0] * roi.shape[1]) <= SMALL_AREA
    tiny = min(w, h) < (8 if resample else 16)  # px in the searched grid
    if small and tiny:
        floor = 0.0  # every peak of a tiny template is swept (below)
    whole = small or matcher.locate is None or roi.shape[0] * roi.shape[1] < LOCATE_FROM * w * h
    if whole:
        base_peaks = _scored_peaks(roi, template, matcher, scale, (w, h), resample, PEAKS,
                                   floor if callable(floor) else min(floor, FLOOR))
    else:  # large area: peaks of the cheap map, re-scored exactly within ±2 px
        base_peaks = []
        for _, px, py in _scored_peaks(roi, template, matcher, scale, (w, h), resample, PEAKS, locate=True):
            x1, y1 = max(0, px - 2), max(0, py - 2)
            local = roi[y1: min(roi.shape[0], py + h + 2), x1: min(roi.shape[1], px + w + 2)]
            base_peaks += [(v, x + x1, y + y1) for v, x, y in
                           _scored_peaks(local, template, matcher, scale, (w, h), resample, 1)]
        base_peaks.sort(reverse=True)
    if not base_peaks:
        return []
    found: list[Cand] = [(v, x, y, scale, w, h) for v, x, y in base_peaks]
    if matcher.checks:
        top = _agreed(roi, template, found[0], resample)
        if whole and callable(floor) and top[0] < found[0][0] and floor(found[0][0]) > floor(0.0):
            # The agreement check unsettled the best the weaker peaks were left out for: all of them.
            return search(roi, template, matcher, tolerance, fx, fy, resample, decided, min(floor(0.0), FLOOR))
        if decided is not None and top[0] >= decided:
            # Settled: the others only need checking where they would be reported (at or above the threshold).
            return [top, *(_agreed(roi, template, c, resample) if c[0] >= decided else c for c in found[1:])]
        found = [top, *(_agreed(roi, template, c, resample) for c in found[1:])]
    # Nothing near the declared scale: no sweep (the common "not found" path costs one map). Small areas on the
    # device grid are swept anyway: there a 6-px template's declared size can score near 0 where ±1 px scores 1.
    hopeless = base_peaks[0][0] < FLOOR and (not small or not tiny)
    if base_peaks[0][0] >= CONFIDENT or hopeless or (decided is not None and max(c[0] for c in found) >= decided):
        return found
    # Small areas sweep every peak of a tiny template (its declared size may be off by a pixel); otherwise only
    # the promising peaks are swept.
    targets = (base_peaks if small and tiny else promising(base_peaks))[:3]
    # Outwards from the declared scale, one direction at a time, while the score does not drop (a peak's score
    # is unimodal in scale): a 6.5 % drift costs 3–4 maps, not the whole sweep.
    last = {(i, d): v for i, (v, _, _) in enumerate(targets) for d in (-1, 1)}
    for scale, w, h in sizes[1:]:
        if max(c[0] for c in found) >= CONFIDENT:
            break  # sizes go outwards from the declared one: a confident candidate will not be beaten
        direction = 1 if scale > template.scale else -1
        pad = math.ceil(max(w, h) * tolerance) + 2
        for i, (_, px, py) in enumerate(targets):
            if (i, direction) not in last:
                continue
            x1, y1 = max(0, px - pad), max(0, py - pad)
            x2, y2 = min(roi.shape[1], px + pad + w), min(roi.shape[0], py + pad + h)
            if x2 - x1 >= w and y2 - y1 >= h:
                swept = [(v, x + x1, y + y1, scale, w, h) for v, x, y in
                         _scored_peaks(roi[y1:y2, x1:x2], template, matcher, scale, (w, h), resample, 1)]
                if swept and swept[0][0] < last[i, direction] - _DROP:
                    del last[i, direction]
                elif swept:
                    last[i, direction] = max(last[i, direction], swept[0][0])
                found += [_agreed(roi, template, c, resample) for c in swept] if matcher.checks else swept
    return found


def _agreed(roi: np.ndarray, template: Template, cand: Cand, resample: bool) -> Cand:
    """``cand`` with its score capped by the pixel agreement at its place (:func:`verify.agreement`)."""
    v, x, y, scale, w, h = cand
    if v < AGREEMENT_FROM:
        return cand
    if resample and scale == 1.0:  # the identity resampling: the pixels themselves
        window = roi[y: y + template.size[1], x: x + template.size[0]]
        tpl, mask = template.image, template.mask
    elif resample:
        window = _resampled(roi[y: y + h + 1, x: x + w + 1], scale)[: template.size[1], : template.size[0]]
        tpl, mask = template.image, template.mask
    else:
        window = roi[y: y + h, x: x + w]
        tpl, mask = scaled(template, w, h)
    if window.shape[:2] != tpl.shape[:2]:
        return cand
    return (min(v, agreement_cap(agreement(window, tpl, mask), template.agreement)), x, y, scale, w, h)


def promising(peaks: list[_P]) -> list[_P]:
    """The peaks (sorted best first) worth refining: ≥ ``FLOOR`` and within ``REACH`` of the best, at most 3."""
    if not peaks:
        return []
    bar = max(FLOOR, peaks[0][0] - REACH)
    return [p for p in peaks if p[0] >= bar][:3]


def distinct(cands: list[Cand]) -> list[Cand]:
    """Best first; a candidate whose centre lies inside a better one's box is the same object."""
    out: list[Cand] = []
    for c in sorted(cands, key=lambda c: -c[0]):
        cx, cy = c[1] + c[4] / 2, c[2] + c[5] / 2
        if not any(o[1] <= cx < o[1] + o[4] and o[2] <= cy < o[2] + o[5] for o in out):
            out.append(c)
    return out
