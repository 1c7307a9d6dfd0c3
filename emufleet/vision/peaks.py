"""Peaks of a score map, and the verified matcher's candidates scored at the correlation's peaks only.

:func:`nms_peaks` is the greedy local-maximum pick every search uses: the best offset, a template-sized
neighbourhood suppressed around it, again, up to ``count`` times (ties go to the first offset in raster order,
as ``cv2.minMaxLoc`` finds them).

:func:`verified_peaks` scores candidates as :func:`~emufleet.vision.verify.verified_scores` does without its
contrast and colour maps over the whole window (as maps they cost ≈ 0.5× a bare ``cv2.matchTemplate``, issue 20):
the candidates are the ``CCOEFF_NORMED`` map's peaks, each verified at its offset. The correlation ``r`` bounds
the verified score: its contrast-structure term is ``s = (r·x + C) / max(x + C, F·(σt² + σw² + C))`` with
``x = 2σtσw ≥ 0``, and as the denominator is at least ``x + C`` and at least ``F·(σt² + C)``,

* for ``0 ≤ r ≤ 1``: ``s = r·(x + C)/D + C·(1 − r)/D ≤ r + (1 − r)·β``, with ``β = C / (F·(σt² + C))``;
* for ``r < 0`` or undefined (scored as 0): ``s ≤ C/D ≤ β``.

So an offset scores at most ``B(r) = β + (1 − β)·clip(r, 0, 1)``, known from the template alone (``β`` ≈ 0.01–0.05
for a textured template, > 1 for a flat one): correlation peaks are taken while their bound reaches the caller's
``floor`` (no weaker one can be reported or refined). Where the bound cannot rule anything out (``β ≥ floor``: a
low-texture template, whose runner-up must be exact, passes ``floor`` 0; a low-contrast one) or the template is
masked, the verified map's own peaks are taken, as before.

What changes against the map's peaks: a found match is the same offset and score (the dev set's 54 region cases:
all within 1 px and 0.01); where nothing is found, the nearest candidate is the best verified correlation peak,
which may score lower than the best offset of the map (a plain area of the template's colour).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import cv2
import numpy as np

from emufleet.vision.verify import (
    COLOUR_FREE,
    COLOUR_RANGE,
    CONTRAST_C,
    CONTRAST_FREE,
    _core,
    _reference,
    verified_scores,
)

__all__ = ["Floor", "nms_peaks", "verified_peaks"]

Floor = float | Callable[[float], float]
"""The weakest score of the candidates after the best a search still wants: a score, or one per best score."""



def nms_peaks(scores: np.ndarray, count: int, w: int, h: int, stop: float = 0.0) -> list[tuple[float, int, int]]:
    """Up to ``count`` local maxima ``(score, x, y)`` of ``scores`` (H', W') float32, each suppressing the
    ``w``×``h`` neighbourhood centred on it; stops at a maximum ≤ ``stop`` once one is found."""
    return list(_maxima(scores.copy(), count, w, h, stop))


def _maxima(work: np.ndarray, count: int, w: int, h: int, stop: float) -> Iterator[tuple[float, int, int]]:
    """:func:`nms_peaks` one at a time, suppressing in ``work`` (changed in place)."""
    for i in range(count):
        _, value, _, (x, y) = cv2.minMaxLoc(work)
        if value <= stop and i:
            return
        yield float(value), x, y
        work[max(0, y - h // 2): y + h // 2 + 1, max(0, x - w // 2): x + w // 2 + 1] = -1.0


def verified_peaks(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None, count: int,
                   floor: Floor = 0.0) -> list[tuple[float, int, int]]:
    """Up to ``count`` candidates ``(score, x, y)``, best first, of ``template`` (h, w, C) over ``image``
    (H, W, C) uint8, scored as :func:`verify.verified_scores` scores them; those after the first only down to
    ``floor``: a score, or the level as a function of the best score (non-decreasing, at most its argument).

    Where the correlation bounds the verified score below the floor (module docstring: ``β`` below it, an
    unmasked template), the candidates are the ``CCOEFF_NORMED`` map's peaks (:func:`nms_peaks`, while their
    bound ``B(r)`` reaches the floor), each verified at its offset only. Otherwise (floor 0: a low-texture
    template, whose runner-up must be exact; a low-contrast or masked template) they are the verified map's
    peaks.
    """
    level = floor if callable(floor) else (lambda _best: floor)
    lowest = level(0.0)
    correlation = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask)
    h, w = template.shape[:2]
    ref = _reference(template, mask)
    beta = CONTRAST_C / (CONTRAST_FREE * (ref.variance + CONTRAST_C))
    if not ref.boxed or beta >= lowest:
        found = nms_peaks(verified_scores(image, template, mask, correlation), count, w, h)
    else:
        cv2.patchNaNs(correlation, 0.0)  # an undefined correlation scores as 0 (verify._combine)
        top, left, ch, cw = _core(h, w)
        found = []
        for r, x, y in _maxima(correlation, count, w, h, (lowest - beta) / (1.0 - beta)):
            if found and beta + (1.0 - beta) * r < level(max(p[0] for p in found)):
                break  # neither this peak nor a later (lower) one can reach the floor
            mean, std = cv2.meanStdDev(image[y + top: y + top + ch, x + left: x + left + cw])
            spread = std.ravel().tolist()
            variance = sum(v * v for v in spread) / len(spread)  # pooled over the channels
            found.append((_score(ref.exact_mean, ref.variance, mean.ravel().tolist(), variance, r), x, y))
        found.sort(key=lambda p: -p[0])
    cut = level(found[0][0]) if found else 0.0
    return [p for i, p in enumerate(found) if i == 0 or p[0] >= cut]


def _score(t_mean: tuple[float, ...], t_var: float, w_mean: list[float], w_var: float, r: float) -> float:
    """:func:`verify._combine` at one offset, in float64 (window mean colour and pooled variance given)."""
    diff = max(abs(m - t) for m, t in zip(w_mean, t_mean, strict=True))
    colour = 1.0 - max(diff - COLOUR_FREE, 0.0) / COLOUR_RANGE
    cross = 2.0 * math.sqrt(t_var * w_var)
    structure = (r * cross + CONTRAST_C) / max(cross + CONTRAST_C, (t_var + CONTRAST_C + w_var) * CONTRAST_FREE)
    return min(1.0, max(0.0, min(structure, colour)))
