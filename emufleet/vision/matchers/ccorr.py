"""CCORR_NORMED: normalised cross-correlation without mean removal (``cv2.TM_CCORR_NORMED``).

Measured for the calibration table only: on bright UI it is close to 1 almost everywhere (docs/vision.md).
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["ccorr_scores"]


def ccorr_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """CCORR_NORMED at every offset: (H−h+1, W−w+1) float32 in [0, 1]."""
    scores = cv2.matchTemplate(image, template, cv2.TM_CCORR_NORMED, mask=mask)
    return np.clip(np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0), 0.0, 1.0)
