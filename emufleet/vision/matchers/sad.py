"""SAD: the seed's matcher (digest §4.3), in numpy, for comparison and as the benchmark baseline.

Score = ``1 − Σ|Δ| / (n·255)`` over the ``n`` template samples (pixels × channels; masked pixels excluded), i.e. one
minus the mean absolute channel difference over 255. The seed ran it brute force in Go at every offset; this is the
same arithmetic vectorised over offsets, one template pixel at a time (O(h·w) numpy passes over the image).
"""

from __future__ import annotations

import numpy as np

__all__ = ["sad_scores"]


def sad_scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """SAD similarity at every offset: (H−h+1, W−w+1) float32 in [0, 1], 1 = identical.

    ``image`` (H, W, 3) and ``template`` (h, w, 3) uint8; ``mask`` (h, w) 0/255 or ``None``.
    """
    h, w = template.shape[:2]
    out_h, out_w = image.shape[0] - h + 1, image.shape[1] - w + 1
    img = image.astype(np.int16)
    tpl = template.astype(np.int16)
    total = np.zeros((out_h, out_w), np.int32)
    count = 0
    for dy in range(h):
        for dx in range(w):
            if mask is not None and not mask[dy, dx]:
                continue
            window = img[dy: dy + out_h, dx: dx + out_w]
            total += np.abs(window - tpl[dy, dx]).sum(axis=2, dtype=np.int32)
            count += 1
    return (1.0 - total / np.float32(max(count, 1) * template.shape[2] * 255)).astype(np.float32)
