"""CCOEFF_NORMED: zero-mean normalised cross-correlation (``cv2.TM_CCOEFF_NORMED``).

Invariant to brightness and contrast, which is why it alone accepts plain panel edges for small flat templates
(docs/vision.md); the default matcher pairs it with a colour check (:mod:`emufleet.vision.verify`). It is
undefined for a template without variance: such templates get the colour score map instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from emufleet.vision.verify import verified_scores

__all__ = ["FLAT_STD", "ccoeff_scores", "ccoeff_verified_scores", "is_flat"]

FLAT_STD = 2.0
"""A template whose pixel standard deviation (all channels) is below this has no shape to correlate."""


def is_flat(template: np.ndarray, mask: np.ndarray | None = None) -> bool:
    """Whether ``template`` is (nearly) a single colour over its opaque pixels."""
    pixels = template[mask > 0] if mask is not None else template.reshape(-1, template.shape[-1])
    return bool(pixels.astype(np.float32).std(axis=0).max() < FLAT_STD)


def ccoeff_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """CCOEFF_NORMED at every offset: (H−h+1, W−w+1) float32 clipped to [0, 1] (anti-correlation → 0)."""
    scores = cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED, mask=mask)
    return np.clip(np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)


def ccoeff_verified_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """CCOEFF_NORMED checked for contrast and mean colour (:func:`emufleet.vision.verify.verified_scores`)."""
    return verified_scores(image, template, mask, cv2.matchTemplate(image, template, cv2.TM_CCOEFF_NORMED,
                                                                    mask=mask))
