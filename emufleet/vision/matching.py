"""Template matching on device frames: region, scale sweep, verified score, typed results (digest §4.3).

Two ways to compare a window-scale template with a device frame, and ``resolution`` picks one or both:

* ``"template"``: the frame is area-downscaled into the template space — what a MuMu window shows, and where the
  templates were cut (the seed's and the demo art's) — and the template is searched at its native size.
* ``"device"``: the template is scaled onto the device grid (:meth:`CoordinateSpace.image_to_device`) and
  searched in its region mapped to device pixels — how the simulator draws template overlays, so such screens
  match pixel for pixel, where the frame's downscale would have blurred 1-px texture.
* ``"auto"`` (default): both, unless template space is already sure; each candidate keeps the better score. Over
  large areas (the whole board) only the promising template-space peaks are re-scored on the device grid.

docs/vision.md measures both and justifies the default. The region (template space) is grown by ``margin`` px
to absorb rounding. Several templates on one frame share one :class:`Screen`.

Scale tolerance: the declared ``scale`` (registry entry × header) is searched first, then swept by the set's
``scale_tolerance`` (default ±4 %) around the promising peaks (:mod:`emufleet.vision.search`; in template space
by resampling the screen, not the template). Low-texture templates are found only inside a region and where
unique (:mod:`emufleet.vision.verify`).

"Not found" is a value (``result.best is None``); bad input raises :class:`~emufleet.errors.VisionError`.
"""

from __future__ import annotations

import functools
import math
from typing import Literal

import numpy as np

from emufleet.errors import VisionError
from emufleet.vision.matchers import DEFAULT_METHOD, Matcher, get_matcher
from emufleet.vision.registry import Template
from emufleet.vision.results import Match, MatchResult, device_match, distinct_matches, template_match, unique
from emufleet.vision.search import (
    DEFAULT_SCALE_TOLERANCE,
    FLOOR,
    PEAKS,
    REACH,
    SMALL_AREA,
    SURE,
    Cand,
    distinct,
    grid_loss,
    promising,
    search,
)
from emufleet.vision.space import CoordinateSpace, Region
from emufleet.vision.verify import AMBIGUITY, STRUCTURE_MIN, structure

_FINE_DEVICE = 2.5  # device px per template px from which the device grid is a rescue only
_RESCUE = 0.2  # template-space near misses this close below the threshold are re-scored on a fine device grid
_SHARP = 0.9  # settled below this, template space may hide a blur the device grid corrects: it is swept in full
_DEVICE_SLACK = 0.2  # the device grid lifts seed templates by at most their grid loss + 0.17 (docs/vision.md)
_CRISP = 0.97  # settled at least this high in template space, a found match skips the device grid (only a score)

__all__ = ["DEFAULT_SCALE_TOLERANCE", "Match", "MatchResult", "Resolution", "Screen", "match"]

class Screen:
    """A device frame prepared for matching many templates: template-space pixels are mapped once per frame.

    ``frame``: (device_height, device_width, 3) uint8 BGR. Raises :class:`VisionError` on another shape/dtype.
    Small regions are mapped alone (:meth:`CoordinateSpace.frame_region_to_space`, the same pixels as the whole
    map); once the regions asked for add up to half the window, or one is large, the whole window is mapped and
    shared by every later template.
    """

    def __init__(self, frame: np.ndarray, space: CoordinateSpace) -> None:
        _check_frame(frame, space)
        self.frame = frame
        self.space = space
        self._window: np.ndarray | None = None
        self._mapped = 0  # template px mapped region by region so far

    @property
    def window(self) -> np.ndarray:
        """(height, width, 3) uint8: the frame in template space (title bar black)."""
        if self._window is None:
            self._window = self.space.frame_to_space(self.frame)
        return self._window

    def window_region(self, region: Region) -> np.ndarray:
        """(region.height, region.width, 3) uint8: ``window[region]``, mapping only ``region`` when that is cheaper.

        ``region`` is in template space, inside the window.
        """
        if self._window is None:
            area = region.width * region.height
            budget = self.space.width * self.space.height // 2
            if self._mapped + area <= budget:
                self._mapped += area
                return self.space.frame_region_to_space(self.frame, region)
        return self.window[region.y1: region.y2, region.x1: region.x2]


def _check_frame(frame: object, space: CoordinateSpace, template: str | None = None) -> None:
    if not isinstance(frame, np.ndarray):
        raise VisionError(f"frame must be a numpy array, got {type(frame).__name__}", template=template)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise VisionError(f"frame must be (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}", template=template)
    if frame.shape[:2] != (space.device_height, space.device_width):
        raise VisionError(f"frame is {frame.shape[1]}×{frame.shape[0]}, the coordinate space expects "
                          f"{space.device_width}×{space.device_height} device px", template=template)


Resolution = Literal["auto", "device", "template"]


def _as_region(region: Region | tuple[int, int, int, int] | None, template: str) -> Region | None:
    if region is None or isinstance(region, Region):
        return region
    try:
        return Region(*(int(v) for v in region))
    except (TypeError, ValueError) as exc:
        raise VisionError(f"bad region {region!r}: {exc}", template=template) from exc


def match(
    frame: np.ndarray | Screen,
    template: Template,
    *,
    space: CoordinateSpace,
    threshold: float | None = None,
    region: Region | tuple[int, int, int, int] | None = None,
    method: str | Matcher = DEFAULT_METHOD,
    scale_tolerance: float | None = None,
    margin: int = 2,
    resolution: Resolution = "auto",
    refine: bool = False,
) -> MatchResult:
    """Find ``template`` on a device frame.

    Args:
        frame: the device capture, (device_height, device_width, 3) uint8 BGR, or a :class:`Screen` of it.
        template: from a :class:`~emufleet.vision.TemplateSet` sharing ``space``.
        space: the template set's coordinate space.
        threshold: minimum score; default the template's, else the method's calibrated default.
        region: searched area in template space (x1, y1, x2, y2 half-open); default the template's region, else the
            whole board below the title bar (digest §4.3 precedence: action > template > board).
        method: a name of :data:`~emufleet.vision.matchers.MATCHERS`, or a :class:`Matcher`.
        scale_tolerance: relative scale sweep around ``template.scale`` (0 disables it); default the template's
            (its registry's ``scale_tolerance``), else ``DEFAULT_SCALE_TOLERANCE``.
        margin: template px added around the region (rounding tolerance; 0 = the seed's exact region).
        resolution: ``"auto"`` (both, the better score wins), ``"device"`` or ``"template"`` (module docstring).
        refine: sweep the scale around candidates found at the declared scale too, for their exact scale
            (``templates calibrate``). By default such a candidate (textured, at or above both ``threshold`` and
            the method's calibrated default) settles "found": template space sweeps no further.

    Raises:
        VisionError: wrong frame type/shape/dtype, unknown method or resolution, or a region that cannot hold the
            template.
    """
    matcher = method if isinstance(method, Matcher) else get_matcher(method)
    if scale_tolerance is None:
        scale_tolerance = DEFAULT_SCALE_TOLERANCE if template.scale_tolerance is None else template.scale_tolerance
    if isinstance(frame, Screen):
        if frame.space != space:
            raise VisionError("the Screen was prepared for another coordinate space", template=template.name)
        screen = frame
    else:
        _check_frame(frame, space, template.name)
        screen = Screen(frame, space)
    area = _as_region(region, template.name) or template.region or space.board
    w, h = template.size
    if not area.fits(round(w * template.scale), round(h * template.scale)):
        raise VisionError(f"region {area.as_tuple()} is smaller than the template ({w}×{h})", template=template.name)
    searched = area.expand(margin).clip(space.width, space.height)
    if searched is None:
        raise VisionError(f"region {area.as_tuple()} lies outside the window", template=template.name)
    if resolution not in ("auto", "device", "template"):
        raise VisionError(f"unknown resolution {resolution!r} (auto, device, template)", template=template.name)
    rect = space.region_to_device(searched).clip(space.device_width, space.device_height)
    if rect is None:
        raise VisionError(f"region {area.as_tuple()} lies outside the screen", template=template.name)
    limit = threshold if threshold is not None else (template.threshold or matcher.default_threshold)
    low_texture = matcher.checks and (template.low_texture if template.low_texture is not None
                                      else _measured_low_texture(template))
    bounded = region is not None or template.region is not None
    if low_texture and not bounded and limit > 1.0 - AMBIGUITY:
        # Capped below the threshold whatever is found (results.unique): only the declared scale, for `nearest`.
        scale_tolerance, resolution = 0.0, "template"
    # The score that settles "found" (low-texture templates also need their runner-up's: never settled early).
    settle = None if low_texture or refine else max(limit, matcher.default_threshold)
    # Weaker peaks are never reported, refined or swept (a low-texture template's runner-up caps its best: all).
    floor = 0.0 if low_texture else max(0.0, min(FLOOR, limit - REACH))

    def keep(best: float) -> float:
        """The weakest template-space peak used besides ``best``: once settled, those reported (≥ ``limit``) and,
        unless crisp, those the device grid refines (within ``REACH`` of the best)."""
        if settle is None or best < settle:
            return floor
        return limit if best >= _CRISP else min(limit, best - REACH)
    window = screen.window_region(searched)
    coarse: list[Cand] = []
    matches: list[Match] = []
    if resolution != "device":
        found = search(window, template, matcher, scale_tolerance, 1.0, 1.0, resample=True, decided=settle,
                       floor=keep)
        coarse = distinct(_offset(found, searched))
        matches += [template_match(c, space) for c in _reportable(coarse, limit, low_texture)]
    if resolution != "template":
        roi = screen.frame[rect.y1: rect.y2, rect.x1: rect.x2]
        # Auto skips the device grid when template space is sure at the declared scale (a swept winner there
        # often just prefers the frame's blur, i.e. a smaller template, which the device grid corrects).
        # A device grid within 2 % of template space holds the same pixels: nothing to add (real screens whose
        # set was cut at the device's size).
        sure = bool(coarse) and coarse[0][0] >= SURE and coarse[0][3] == template.scale
        same_grid = abs(space.scale_x - 1.0) < 0.02 and abs(space.scale_y - 1.0) < 0.02
        # A device ≥ 2.5× finer than the templates (a 277-px set on a 900×1600 screen) renders them natively: the
        # device grid only upsamples the template. It is kept as a rescue of near misses, around their peaks.
        fine_device = min(space.scale_x, space.scale_y) >= _FINE_DEVICE
        best = coarse[0][0] if coarse else 0.0
        thin = min(template.size) <= 2
        # Decided in template space: out of the device grid's reach (it lifts a score by at most the template's
        # grid loss + _DEVICE_SLACK; not for templates under 5 px thick, whose core under 3 px is all blend), or
        # settled (found: a textured template needs no runner-up).
        skip = sure or (resolution == "auto" and (same_grid or (fine_device and not limit - _RESCUE <= best < limit)))
        if not skip and resolution == "auto" and min(template.size) >= 5:  # the loss is measured once, if needed
            skip = best + _DEVICE_SLACK + grid_loss(template, matcher, space.scale_x, space.scale_y) < limit
        decided = settle is not None and not thin and bool(coarse) and best >= settle
        # Found and crisp: the device grid would only sharpen a score already past the threshold (real captures
        # score no better there, docs/vision.md "Cost"); the template-space place is within a device px or two.
        skip = skip or (resolution == "auto" and decided and best >= _CRISP)
        if skip:
            fine = []
        elif resolution == "auto" and decided:
            # Found: the device grid only sharpens the score (of the peaks that could reach the threshold). At the
            # declared scale first: no better there (a real capture), its sweep is skipped unless the settled score
            # is low enough to be the frame's blur (a seed template drawn 2 % off: 0.81 in template space, 1.0 on
            # the device grid swept).
            peaks = [c for c in promising(coarse) if c[0] >= limit - REACH]
            fine = _refine(screen, peaks, template, matcher, 0.0, floor)
            if best < _SHARP or max((c[0] for c in fine), default=0.0) > best:
                fine += _refine(screen, peaks, template, matcher, scale_tolerance, floor)
        elif resolution == "auto" and fine_device:
            fine = _refine(screen, promising(coarse), template, matcher, scale_tolerance, floor)
        elif roi.shape[0] * roi.shape[1] <= SMALL_AREA or thin:
            # Small areas, and ≤ 2-px thin templates (the frame's downscale blurs them away), in full.
            fine = _offset(search(roi, template, matcher, scale_tolerance, space.scale_x, space.scale_y,
                                  floor=floor), rect)
        elif resolution == "auto":  # refine the promising template-space peaks on the device grid
            fine = _refine(screen, promising(coarse), template, matcher, scale_tolerance, floor)
        else:
            peaks = distinct(_offset(search(window, template, matcher, 0.0, 1.0, 1.0, resample=True), searched))
            fine = _refine(screen, peaks[: 2 * PEAKS], template, matcher, scale_tolerance)
        matches += [device_match(c, space) for c in _reportable(fine, limit, low_texture)]
    matches = distinct_matches(matches)
    if low_texture:
        # Low-texture: any panel edge of its colours matches it, so it is found only where it is unique, and only
        # inside a region (over the whole board a unique panel edge is still a panel edge: issue 11's dev set).
        matches = unique(matches, bounded=bounded)
    above = tuple(m for m in matches if m.score >= limit)
    return MatchResult(template=template.name, method=matcher.name, threshold=limit, region=area,
                       best=above[0] if above else None, nearest=matches[0] if matches else None, candidates=above)


@functools.lru_cache(maxsize=4096)
def _measured_low_texture(template: Template) -> bool:
    """Whether ``template``'s image measures as low-texture; per template object (its image is read-only), where
    :func:`structure`'s own cache hashes the image's bytes on every call."""
    return structure(template.image, template.mask) < STRUCTURE_MIN


def _reportable(cands: list[Cand], limit: float, low_texture: bool) -> list[Cand]:
    """The candidates that can show in a result: at or above ``limit`` (as rounded in a :class:`Match`) and the
    best (``nearest``). A weaker one cannot hide them (only a better match hides another). Low-texture templates
    keep all: their runner-up caps the best (:func:`~emufleet.vision.results.unique`)."""
    if low_texture or not cands:
        return cands
    top = max(cands, key=lambda c: c[0])
    return [c for c in cands if c is top or round(c[0], 4) >= limit]


def _offset(cands: list[Cand], rect: Region) -> list[Cand]:
    return [(v, x + rect.x1, y + rect.y1, s, w, h) for v, x, y, s, w, h in cands]


def _refine(screen: Screen, peaks: list[Cand], template: Template, matcher: Matcher,
            tolerance: float, floor: float = 0.0) -> list[Cand]:
    """Device-grid candidates searched only around template-space ``peaks`` (absolute coordinates both); ``floor``
    as for :func:`search`."""
    space = screen.space
    found: list[Cand] = []
    for _, x, y, _, w, h in peaks:
        grown = Region(x, y, x + w, y + h).expand(1 + math.ceil(max(w, h) * tolerance))
        near = space.region_to_device(grown).clip(space.device_width, space.device_height)
        if near is not None:
            roi = screen.frame[near.y1: near.y2, near.x1: near.x2]
            found += _offset(search(roi, template, matcher, tolerance, space.scale_x, space.scale_y, floor=floor),
                             near)
    return found
