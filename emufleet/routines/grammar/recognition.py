"""Conditions that see the screen with a recognizer other than a template: ``ColorInRegion`` (colour) and
``Recognized`` (any registered recognizer, plugins included). A fresh frame each time.

``ColorInRegion`` (:class:`~emufleet.vision.recognizers.ColourRecognizer`)::

    - type: ColorInRegion
      region: {x1: 100, y1: 300, x2: 180, y2: 330}      # required, template space
      rgb: {min: [200, 0, 0], max: [255, 90, 90]}       # or hsv: {min, max} in OpenCV's ranges (H 0-179)
      min_fraction: 0.3                                 # share of the region's pixels in range (default 0.5)
      # min_pixels: 40                                  # or a count
    - type: ColorInRegion
      region: {...}
      mean: [230, 40, 40]                               # the region's mean RGB colour
      tolerance: 30                                     # per channel (default 24)

``Recognized``: ``recognizer`` (a registered name), ``params`` (its keyword arguments, checked at load by building
it), ``region`` (default the whole board), ``threshold`` (overrides the recognizer's).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from emufleet.errors import VisionError
from emufleet.routines.grammar.base import GrammarModel, Threshold
from emufleet.routines.grammar.catalog import condition
from emufleet.routines.grammar.conditions import ConditionBase
from emufleet.routines.seeing import recognize
from emufleet.vision.space import RegionMapping

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.vision.recognizers import Recognizer

__all__ = ["ColorInRegion", "ColourRange", "Recognized"]

Triple = Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=3, max_length=3)]


class ColourRange(GrammarModel):
    """Inclusive per-channel bounds ``min``/``max`` (three integers each)."""

    min: Triple
    max: Triple


@condition
class ColorInRegion(ConditionBase):
    """True when enough of the region's pixels lie in a colour range, or its mean colour is near ``mean``."""

    NAME = "ColorInRegion"
    region: RegionMapping
    rgb: ColourRange | None = None
    hsv: ColourRange | None = None
    min_fraction: Threshold | None = None
    min_pixels: int | None = Field(default=None, ge=1)
    mean: Triple | None = None
    tolerance: int | None = Field(default=None, ge=0, le=255)

    @model_validator(mode="after")
    def _one_test(self) -> ColorInRegion:
        given = [k for k in ("rgb", "hsv", "mean") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of rgb, hsv (a range) or mean (a colour)")
        if self.mean is not None and (self.min_fraction is not None or self.min_pixels is not None):
            raise ValueError("min_fraction/min_pixels apply to a range (rgb, hsv), not to mean")
        if self.mean is None and self.tolerance is not None:
            raise ValueError("tolerance applies to mean")
        if self.min_fraction is not None and self.min_pixels is not None:
            raise ValueError("give min_fraction or min_pixels, not both")
        try:
            self.recognizer()
        except VisionError as exc:
            raise ValueError(str(exc)) from None
        return self

    def recognizer(self) -> Recognizer:
        from emufleet.vision.recognizers.colour import DEFAULT_MIN_FRACTION, DEFAULT_TOLERANCE, ColourRecognizer

        if self.mean is not None:
            tolerance = DEFAULT_TOLERANCE if self.tolerance is None else self.tolerance
            return ColourRecognizer(mode="mean", mean=self.mean, tolerance=tolerance)
        bounds = self.rgb or self.hsv
        assert bounds is not None  # _one_test
        return ColourRecognizer(space="rgb" if self.rgb else "hsv", lower=bounds.min, upper=bounds.max,
                                min_pixels=self.min_pixels,
                                min_fraction=DEFAULT_MIN_FRACTION if self.min_fraction is None else self.min_fraction)

    def evaluate(self, ex: Executor) -> bool:
        return recognize(ex, self.recognizer(), self.region).found


@condition
class Recognized(ConditionBase):
    """True when the recognizer ``recognizer`` (built with ``params``) finds something in ``region``."""

    NAME = "Recognized"
    recognizer: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    region: RegionMapping | None = None
    threshold: Threshold | None = None

    @model_validator(mode="after")
    def _buildable(self) -> Recognized:
        self.build()
        return self

    def build(self) -> Recognizer:
        """The configured recognizer; raises ``ValueError`` (a located load error) when it cannot be built."""
        from emufleet.vision.recognizers import get_recognizer

        try:
            return get_recognizer(self.recognizer)(**self.params)
        except VisionError as exc:
            raise ValueError(str(exc)) from None
        except TypeError as exc:  # wrong keyword arguments for its constructor: say which
            raise ValueError(f"params of recognizer {self.recognizer!r}: {exc}") from None

    def evaluate(self, ex: Executor) -> bool:
        result = recognize(ex, self.build(), self.region)
        if self.threshold is None:
            return result.found
        return result.nearest is not None and result.nearest.score >= self.threshold

