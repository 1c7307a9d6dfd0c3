"""``StoreBrightness``: save the mean grey level (0–255) of a region into a variable."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emufleet.routines.grammar.base import Step
from emufleet.routines.grammar.catalog import action
from emufleet.routines.seeing import recognize
from emufleet.vision.space import RegionMapping

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor


@action
class StoreBrightness(Step):
    NAME = "StoreBrightness"
    region: RegionMapping
    save_to: str

    def run(self, ex: Executor) -> None:
        from emufleet_example.recognizers import Brightness

        seen = recognize(ex, Brightness(0), self.region)
        ex.ctx.variables.set(self.save_to, str(round(seen.score * 255)))
