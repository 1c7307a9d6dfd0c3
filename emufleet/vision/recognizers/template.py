"""Template matching as a recognizer: :func:`emufleet.vision.match` (unchanged) behind the common interface."""

from __future__ import annotations

from emufleet.vision.matching import Match, Screen, match
from emufleet.vision.recognizers.base import Hit, Recognition, Recognizer, recognizer
from emufleet.vision.registry import Template
from emufleet.vision.space import Region

__all__ = ["TemplateRecognizer"]


@recognizer
class TemplateRecognizer(Recognizer):
    """``template`` matched with :func:`~emufleet.vision.match` (its defaults: verified ``ccoeff``, the template's
    threshold and region, the scale sweep). ``recognize(screen, None)`` searches the template's own region."""

    NAME = "template"

    def __init__(self, template: Template, *, threshold: float | None = None) -> None:
        self.template = template
        self.threshold = threshold

    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        res = match(screen, self.template, space=screen.space, threshold=self.threshold, region=region)

        def hit(m: Match) -> Hit:
            return Hit(m.rect, m.device_rect, m.score)

        return Recognition(self.NAME, f"template {self.template.name}", res.threshold, res.region,
                           tuple(hit(m) for m in res.candidates), hit(res.nearest) if res.nearest else None)
