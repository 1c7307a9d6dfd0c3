"""A routine's own notification (docs/observability.md): ``Notify`` sends a message, with the bot's current frame,
to the bot's notifications (a god pack, a rare card, anything worth a look)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from emufleet.routines.grammar.base import Step
from emufleet.routines.grammar.catalog import action

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor

__all__ = ["Notify"]


@action
class Notify(Step):
    """Send ``message`` (``${var}`` interpolated, ≤ 1,000 characters) with the current frame and its overlay, or
    without it when ``screenshot: false``. A bot without a notification channel logs it; the step never fails
    because a notification could not be delivered."""

    NAME = "Notify"
    message: str = Field(min_length=1, max_length=1000)
    screenshot: bool = True

    def run(self, ex: Executor) -> None:
        ex.ctx.notify(ex.interpolate(self.message), screenshot=self.screenshot)
