"""Template-set lint: templates that cannot be verified on real pixels, and templates that are ambiguous on screens.

Findings (``Finding.kind``):

* ``low-texture``: :func:`~emufleet.vision.verify.structure` below :data:`~emufleet.vision.verify.STRUCTURE_MIN`
  (only 1-D edges and gradients: any panel edge of its colours matches it); with no region it is never reported
  found over the whole board (``needs-region``);
* ``too-small``: a side under 3 px or under 48 pixels: its contrast and colour cannot be checked;
* ``self-similar``: it matches itself shifted by a quarter of its size or more (≥ 0.95): bars, stripes, repeats —
  the place found along it is arbitrary;
* ``near-duplicate``: another template of about the same size and colours correlates with it at ≥ 0.97;
* ``ambiguous``: on a screen given, it is found at more than one distinct place (non-overlapping candidates).

Loading a template set never lints it (``emufleet templates lint`` does).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.images import read_image
from emufleet.vision.registry import Template, TemplateSet
from emufleet.vision.verify import STRUCTURE_MIN, structure

__all__ = ["Finding", "lint", "lint_template"]

_SELF_SIMILAR = 0.95
_DUPLICATE = 0.97


@dataclass(frozen=True, slots=True)
class Finding:
    """One lint result: ``template`` name, ``kind`` (module docstring), a human ``message``."""

    template: str
    kind: str
    message: str


def lint_template(t: Template) -> list[Finding]:
    """The per-template checks: low-texture (and needs a region), too small, self-similar."""
    out = []
    w, h = t.size
    if min(w, h) < 3 or w * h < 48:
        out.append(Finding(t.name, "too-small", f"{w}×{h} px: too small to check contrast and colour"))
    value = structure(t.image, t.mask)
    if t.low_texture if t.low_texture is not None else value < STRUCTURE_MIN:
        out.append(Finding(t.name, "low-texture", f"structure {value:.1f} < {STRUCTURE_MIN:g}: only edges and "
                                                  "gradients, any panel edge of its colours matches it"))
        if t.region is None:
            out.append(Finding(t.name, "needs-region", "low-texture without a region: never reported found over "
                                                       "the whole board; give it a tight region"))
    elif min(w, h) >= 4 and _self_similar(t.image):
        out.append(Finding(t.name, "self-similar", f"matches itself shifted by ≥ ¼ of its size at ≥ "
                                                   f"{_SELF_SIMILAR:g}: where along it a match lands is arbitrary"))
    return out


def _self_similar(image: np.ndarray) -> bool:
    """Whether the middle half of ``image`` correlates ≥ ``_SELF_SIMILAR`` somewhere ≥ ¼ of the size away."""
    h, w = image.shape[:2]
    core = image[h // 4: h // 4 + max(2, h // 2), w // 4: w // 4 + max(2, w // 2)]
    scores = np.nan_to_num(cv2.matchTemplate(image, core, cv2.TM_CCOEFF_NORMED), nan=0.0)
    ys, xs = np.nonzero(scores >= _SELF_SIMILAR)
    return bool(((np.abs(xs - w // 4) >= max(1, w // 4)) | (np.abs(ys - h // 4) >= max(1, h // 4))).any())


def _near_duplicates(ts: TemplateSet) -> list[Finding]:
    out = []
    items = list(ts)
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            (aw, ah), (bw, bh) = a.size, b.size
            if abs(aw - bw) > 1 or abs(ah - bh) > 1 or min(aw, ah, bw, bh) < 3:
                continue
            size = (min(aw, bw), min(ah, bh))
            ia, ib = cv2.resize(a.image, size), cv2.resize(b.image, size)
            if np.abs(ia.reshape(-1, 3).mean(0) - ib.reshape(-1, 3).mean(0)).max() > 8:
                continue
            r = float(np.nan_to_num(cv2.matchTemplate(ia, ib, cv2.TM_CCOEFF_NORMED), nan=1.0).max())
            if r >= _DUPLICATE:
                out.append(Finding(a.name, "near-duplicate", f"correlates at {r:.3f} with {b.name}"))
    return out


def _ambiguous(ts: TemplateSet, screens: list[Path]) -> list[Finding]:
    from emufleet.vision.matching import Screen, match

    out = []
    for path in screens:
        try:
            frame = read_image(path, cv2.IMREAD_COLOR)
        except VisionError as exc:
            out.append(Finding("-", "unreadable", str(exc)))
            continue
        space = ts.space
        if frame.shape[:2] != (space.device_height, space.device_width):
            space = space.for_device(frame.shape[1], frame.shape[0])
        screen = Screen(frame, space)
        for t in ts:
            try:
                cands = match(screen, t, space=space).candidates
            except Exception as exc:  # a template that cannot be searched on this geometry: say so, go on
                out.append(Finding(t.name, "error", f"{path.name}: {exc}"))
                continue
            separate = [c for c in cands if not any(c.device_rect.intersects(o.device_rect) for o in cands
                                                   if o is not c)]
            if len(cands) > 1 and len(separate) > 1:
                out.append(Finding(t.name, "ambiguous", f"{path.name}: found at {len(cands)} places "
                                                        f"({', '.join(str(c.device_center) for c in cands[:4])})"))
    return out


def lint(ts: TemplateSet, screens: list[Path] | None = None) -> list[Finding]:
    """Every finding for ``ts``: per template, near-duplicates, and ambiguity on ``screens`` (PNG paths)."""
    out = [f for t in ts for f in lint_template(t)]
    out += _near_duplicates(ts)
    if screens:
        out += _ambiguous(ts, screens)
    return out

