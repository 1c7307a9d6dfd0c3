"""Vision: template registries, coordinate spaces and verified template matching (digest §4).

Usage::

    from emufleet.vision import TemplateSet, CoordinateSpace, Region, Screen, match
    ts = TemplateSet.load("templates/registry.yaml")        # registry YAML file or a folder of them
    tpl = ts.get("OK")
    res = match(frame, tpl, space=ts.space)                 # frame: (960, 540, 3) uint8 BGR device capture
    if res.found:
        device.tap(*res.best.device_center)

Modules: :mod:`.space` (the window ↔ device formulas, nowhere else), :mod:`.images` (decoding, masks, the
per-process cache), :mod:`.registry` (YAML → :class:`TemplateSet`), :mod:`.matchers` (one algorithm per module),
:mod:`.verify` (contrast and colour check), :mod:`.matching` (:func:`match`), :mod:`.results` (its records),
:mod:`.peaks` (candidate peaks), :mod:`.seed` (a registry over the seed's whole template set), :mod:`.loading`
(:func:`load_templates`: a set by path, the one loader callers use), :mod:`.synth` (synthetic screens for
calibration and tests), :mod:`.overlay`.
"""

from emufleet.vision.loading import load_templates
from emufleet.vision.matchers import DEFAULT_METHOD, MATCHERS, Matcher, get_matcher
from emufleet.vision.matching import Match, MatchResult, Screen, match
from emufleet.vision.registry import Template, TemplateSet
from emufleet.vision.space import CoordinateSpace, Region

__all__ = [
    "DEFAULT_METHOD",
    "MATCHERS",
    "CoordinateSpace",
    "Match",
    "MatchResult",
    "Matcher",
    "Region",
    "Screen",
    "Template",
    "TemplateSet",
    "get_matcher",
    "load_templates",
    "match",
]
