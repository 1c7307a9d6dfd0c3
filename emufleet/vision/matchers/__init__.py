"""Matchers: one algorithm per module, one signature, a name registry (STYLE: Airtest ``aircv``).

Every matcher maps ``(image, template, mask)`` — arguments in OpenCV's order; ``image`` (H, W, 3) and ``template``
(h, w, 3) uint8 BGR, ``mask`` (h, w) 0/255 or ``None`` — to an (H−h+1, W−w+1) float32 similarity map in [0, 1]
where 1 is a perfect match. ``default_threshold``: calibrated for ``ccoeff`` (docs/vision.md), nominal for the others.

| name | module | use |
|---|---|---|
| ``ccoeff`` | :mod:`.ccoeff` + :mod:`emufleet.vision.verify` | **default**: CCOEFF_NORMED + contrast, colour check |
| ``ccoeff_raw`` | :mod:`.ccoeff` | correlation only (for comparison) |
| ``sqdiff`` | :mod:`.sqdiff` | ``1 − SQDIFF_NORMED`` |
| ``ccorr`` | :mod:`.ccorr` | CCORR_NORMED |
| ``sad`` | :mod:`.sad` | the seed's brute-force SAD (digest §4.3) |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matchers.ccoeff import ccoeff_scores, ccoeff_verified_scores
from emufleet.vision.matchers.ccorr import ccorr_scores
from emufleet.vision.matchers.sad import sad_scores
from emufleet.vision.matchers.sqdiff import sqdiff_scores
from emufleet.vision.peaks import Floor, verified_peaks
from emufleet.vision.verify import locator_scores

__all__ = ["DEFAULT_METHOD", "MATCHERS", "Matcher", "PeakFn", "ScoreFn", "get_matcher"]

ScoreFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None"], np.ndarray]
PeakFn = Callable[[np.ndarray, np.ndarray, "np.ndarray | None", int, Floor], list[tuple[float, int, int]]]


@dataclass(frozen=True, slots=True)
class Matcher:
    """A named scoring algorithm and its calibrated default threshold."""

    name: str
    scores: ScoreFn
    default_threshold: float
    description: str
    locate: ScoreFn | None = None
    """A cheaper map whose peaks are re-scored with ``scores``, for large search areas (``None``: use ``scores``)."""
    peaks: PeakFn | None = None
    """``(image, template, mask, count, floor)`` → the same peaks as :func:`~emufleet.vision.peaks.nms_peaks` of
    ``scores``, those after the first only down to ``floor``, without the whole map (``None``: from the map)."""
    checks: bool = False
    """Apply the real-pixel checks of :mod:`emufleet.vision.verify` to its candidates (pixel agreement; low-texture
    templates found only where unique, inside a region). The default matcher does; the others are compared bare."""


MATCHERS: dict[str, Matcher] = {
    m.name: m
    for m in (
        Matcher("ccoeff", ccoeff_verified_scores, 0.8, "CCOEFF_NORMED verified by contrast and mean colour",
                locate=locator_scores, peaks=verified_peaks, checks=True),
        Matcher("ccoeff_raw", ccoeff_scores, 0.9, "CCOEFF_NORMED alone"),
        Matcher("sqdiff", sqdiff_scores, 0.97, "1 - SQDIFF_NORMED"),
        Matcher("ccorr", ccorr_scores, 0.98, "CCORR_NORMED"),
        Matcher("sad", sad_scores, 0.8, "the seed's SAD: 1 - mean |diff| / 255 (digest §4.3)"),
    )
}

DEFAULT_METHOD = "ccoeff"


def get_matcher(name: str) -> Matcher:
    """The matcher called ``name``. Raises :class:`VisionError` listing the known names."""
    try:
        return MATCHERS[name]
    except KeyError:
        raise VisionError(f"unknown match method {name!r} (known: {', '.join(MATCHERS)})") from None
