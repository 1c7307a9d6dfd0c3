"""What :func:`emufleet.vision.match` returns, and how its candidates become those records.

:class:`Match` (one located candidate, in template space and device pixels) and :class:`MatchResult` (best,
nearest, all candidates at or above the threshold); candidates of either grid become matches, the same object
found twice is kept once, and low-texture templates are capped by their runner-up (``verify.AMBIGUITY``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from emufleet.vision.search import Cand
from emufleet.vision.space import CoordinateSpace, Region
from emufleet.vision.verify import AMBIGUITY

__all__ = ["Match", "MatchResult", "device_match", "distinct_matches", "template_match", "unique"]


@dataclass(frozen=True, slots=True)
class Match:
    """One located candidate.

    ``top_left``/``size``/``center`` are in template space (size at the matched ``scale``); the ``device_*``
    fields are the same place in device pixels (rounded; use ``device_center`` to tap).
    """

    score: float
    top_left: tuple[int, int]
    size: tuple[int, int]
    scale: float
    center: tuple[float, float]
    device_top_left: tuple[int, int]
    device_center: tuple[int, int]
    device_rect: Region

    @property
    def rect(self) -> Region:
        """The matched rectangle in template space."""
        x, y = self.top_left
        return Region(x, y, x + self.size[0], y + self.size[1])


@dataclass(frozen=True, slots=True)
class MatchResult:
    """What :func:`match` found. ``best`` is the top candidate at or above ``threshold``, else ``None``.

    ``nearest`` is the top candidate whatever its score (for diagnostics and step events); ``candidates`` lists
    the distinct candidates at or above the threshold, best first.
    """

    template: str
    method: str
    threshold: float
    region: Region
    best: Match | None
    nearest: Match | None
    candidates: tuple[Match, ...]

    @property
    def found(self) -> bool:
        return self.best is not None

    @property
    def score(self) -> float:
        """The top score (0.0 when nothing could be scored)."""
        return self.nearest.score if self.nearest else 0.0


def unique(matches: list[Match], bounded: bool) -> list[Match]:
    """Low-texture templates: each score capped at ``1 − AMBIGUITY + lead`` (its lead over the best other distinct
    candidate not overlapping it), so an edge found at several places of a screen is found at none of them
    (verify.AMBIGUITY). Not ``bounded`` by a region, every score is capped at ``1 − AMBIGUITY``."""
    out = []
    for i, m in enumerate(matches):
        other = max((o.score for j, o in enumerate(matches) if j != i and not o.device_rect.intersects(m.device_rect)),
                    default=0.0)
        cap = round(1.0 - AMBIGUITY + (m.score - other if bounded else 0.0), 4)
        out.append(m if m.score <= cap else dataclasses.replace(m, score=max(0.0, cap)))
    return sorted(out, key=lambda m: -m.score)


def distinct_matches(matches: list[Match]) -> list[Match]:
    """Best first; a match whose device centre lies inside a better one's device box is the same object."""
    out: list[Match] = []
    for m in sorted(matches, key=lambda m: -m.score):
        cx, cy = m.device_center
        if not any(o.device_rect.contains(cx, cy) for o in out):
            out.append(m)
    return out


def template_match(c: Cand, space: CoordinateSpace) -> Match:
    score, x, y, scale, w, h = c
    center = (x + w / 2, y + h / 2)
    return Match(score=round(score, 4), top_left=(x, y), size=(w, h), scale=round(scale, 4), center=center,
                 device_top_left=space.device_point(x, y), device_center=space.device_point(*center),
                 device_rect=space.region_to_device(Region(x, y, x + w, y + h)))


def device_match(c: Cand, space: CoordinateSpace) -> Match:
    score, x, y, scale, w, h = c
    tx, ty = space.from_device(x, y)
    cx, cy = space.from_device(x + w / 2, y + h / 2)
    return Match(score=round(score, 4), top_left=(round(tx), round(ty)),
                 size=(round(w / space.scale_x), round(h / space.scale_y)), scale=round(scale, 4),
                 center=(round(cx, 2), round(cy, 2)), device_top_left=(x, y),
                 device_center=(min(x + w // 2, space.device_width - 1), min(y + h // 2, space.device_height - 1)),
                 device_rect=Region(x, y, x + w, y + h))
