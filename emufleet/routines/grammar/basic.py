"""Input, timing, app and sentry-control actions (digest §1.5 "Input and timing", "Sentry control and app control").

Coordinates are in the template set's space and mapped to device pixels by ``CoordinateSpace.to_device``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import Field, field_validator

from emufleet.durations import DurationMs
from emufleet.routines.grammar.base import Coord, Step
from emufleet.routines.grammar.catalog import action
from emufleet.settings import GAME

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor

__all__ = ["Click", "Delay", "Input", "KillApp", "LaunchApp", "SendKey", "SentryHalt", "SentryResume", "Sleep",
           "Swipe"]


@action
class Click(Step):
    """Tap at ``(x, y)`` (template space, ≥ 0; default 0 as in the seed)."""

    NAME = "Click"
    x: Coord = 0
    y: Coord = 0

    def run(self, ex: Executor) -> None:
        ex.tap(self.x, self.y)


@action
class Swipe(Step):
    """Swipe from ``(x1, y1)`` to ``(x2, y2)`` over ``duration`` (required; bare number = ms)."""

    NAME = "Swipe"
    x1: Coord
    y1: Coord
    x2: Coord
    y2: Coord
    duration: DurationMs

    def run(self, ex: Executor) -> None:
        ex.swipe(self.x1, self.y1, self.x2, self.y2, self.duration)


@action
class Input(Step):
    """Type ``text`` literally (the device layer escapes it; the seed escaped only spaces)."""

    NAME = "Input"
    text: str

    def run(self, ex: Executor) -> None:
        ex.device_call("input_text", self.text)


@action(aliases=("sendkey",))
class SendKey(Step):
    """Send a key event: ``KEYCODE_BACK`` or a numeric key code."""

    NAME = "send_key"
    key: str | int

    @field_validator("key")
    @classmethod
    def _not_empty(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise ValueError("key must not be empty")
        return value

    def run(self, ex: Executor) -> None:
        ex.device_call("key_event", self.key)


@action
class Sleep(Step):
    """Wait ``duration`` (bare number = ms), interruptibly (pause/stop reach it within 100 ms)."""

    NAME = "Sleep"
    duration: DurationMs

    def run(self, ex: Executor) -> None:
        ex.sleep(self.duration)


@action
class Delay(Step):
    """Wait ``count`` × the bot's delay unit (the seed's INI ``Delay``, default 250 ms)."""

    NAME = "Delay"
    count: Annotated[int, Field(gt=0, strict=True)]

    def run(self, ex: Executor) -> None:
        ex.sleep(self.count * ex.ctx.delay_unit_ms / 1000.0)


@action
class LaunchApp(Step):
    """Start ``package``/``activity`` (defaults: the game; one canonical launch command, digest §7.5)."""

    NAME = "LaunchApp"
    package: str = GAME.package
    activity: str | None = None

    def run(self, ex: Executor) -> None:
        activity = self.activity or (GAME.activity if self.package == GAME.package else None)
        ex.device_call("app_start", self.package, activity)


@action
class KillApp(Step):
    """Force-stop ``package`` (default: the game)."""

    NAME = "KillApp"
    package: str = GAME.package

    def run(self, ex: Executor) -> None:
        ex.device_call("app_stop", self.package)


@action
class SentryHalt(Step):
    """Pause the main routine (it blocks at its next checkpoint, a running wait included). No-op unless running."""

    NAME = "SentryHalt"

    def run(self, ex: Executor) -> None:
        ex.ctx.controller.pause()


@action
class SentryResume(Step):
    """Resume the main routine. No-op unless paused."""

    NAME = "SentryResume"

    def run(self, ex: Executor) -> None:
        ex.ctx.controller.resume()
