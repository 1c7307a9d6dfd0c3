"""The scale a template set's captures actually have on a device: measured on one screen, stored in its header.

Real captures drift by several percent between emulators and layouts (the dev set's tablet layout is ≈ 6.5 % off).
Rather than sweeping wide on every match, :func:`measure_scale` finds the set's scale once: every template with
2-D structure (not low-texture) is searched over the whole board with a wide sweep (±``tolerance``); the scales of
those found are combined (median); :func:`write_scale` stores it as the registry header's ``scale:``, so the
default sweep stays narrow around it.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen, match
from emufleet.vision.registry import TemplateSet
from emufleet.vision.verify import STRUCTURE_MIN, structure

__all__ = ["ScaleEstimate", "measure_scale", "write_scale"]


@dataclass(frozen=True, slots=True)
class ScaleEstimate:
    """``scale``: the median relative scale of the found templates (1.0 = as declared); ``found``: how many
    templates voted, with ``(name, scale, score)``."""

    scale: float
    found: tuple[tuple[str, float, float], ...]


def measure_scale(ts: TemplateSet, frame: np.ndarray, tolerance: float = 0.12) -> ScaleEstimate:
    """The set's scale on ``frame`` (the device capture, (H, W, 3) uint8 BGR; another size than the set's device
    gets :meth:`CoordinateSpace.for_device`). Raises :class:`VisionError` when no template is found."""
    space = ts.space
    if frame.shape[:2] != (space.device_height, space.device_width):
        space = space.for_device(frame.shape[1], frame.shape[0])
    screen = Screen(frame, space)
    votes = []
    for t in ts:
        if structure(t.image, t.mask) < STRUCTURE_MIN or min(t.size) < 6:
            continue
        result = match(screen, t, space=space, region=space.board, scale_tolerance=tolerance, refine=True)
        if result.best is not None:
            votes.append((t.name, result.best.scale / t.scale, result.best.score))
    if not votes:
        raise VisionError("no template of the set was found on this screen: cannot measure its scale")
    return ScaleEstimate(round(statistics.median(v[1] for v in votes), 3), tuple(votes))


_SCALE_LINE = re.compile(r"^scale:.*$", re.MULTILINE)


def write_scale(registry: Path, relative: float) -> float:
    """Multiply the top-level ``scale:`` of the registry file by ``relative`` (a :func:`measure_scale` result) and
    return the new value; the file is kept as written otherwise (the line is added after ``coordinate_space:``,
    or at the top, when missing)."""
    text = registry.read_text(encoding="utf-8")
    current = _SCALE_LINE.search(text)
    old = float(current.group(0).split(":", 1)[1].split("#")[0].strip() or 1.0) if current else 1.0
    new = round(old * relative, 4)
    line = f"scale: {new:g}"
    if current:
        text = text[: current.start()] + line + text[current.end():]
    else:
        header = re.search(r"^coordinate_space:.*$", text, re.MULTILINE)
        at = header.end() + 1 if header else 0
        text = text[:at] + line + "\n" + text[at:]
    registry.write_text(text, encoding="utf-8")
    return new
