"""SQDIFF_NORMED as a similarity: ``1 − Σ(Δ²) / sqrt(ΣT²·ΣI²)`` (``cv2.TM_SQDIFF_NORMED``)."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["sqdiff_scores"]


def sqdiff_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``1 − SQDIFF_NORMED`` at every offset: (H−h+1, W−w+1) float32 clipped to [0, 1]."""
    scores = cv2.matchTemplate(image, template, cv2.TM_SQDIFF_NORMED, mask=mask)
    similarity: np.ndarray = np.clip(1.0 - np.nan_to_num(scores, nan=1.0, posinf=1.0, neginf=1.0), 0.0, 1.0)
    return similarity
