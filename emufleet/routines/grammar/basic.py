"""Input, timing, app and sentry-control actions (digest §1.5 "Input and timing", "Sentry control and app control").

Coordinates are in the template set's space and mapped to device pixels by ``CoordinateSpace.to_device``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, TypeVar

from pydantic import AfterValidator, Field, field_validator

from emufleet.device import check_activity, check_input_text, check_key, check_package
from emufleet.durations import DurationMs
from emufleet.errors import InputError
from emufleet.routines.grammar.base import Coord, Step
from emufleet.routines.grammar.catalog import action
from emufleet.settings import GAME

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor

__all__ = ["Click", "Delay", "Input", "KillApp", "LaunchApp", "SendKey", "SentryHalt", "SentryResume", "Sleep",
           "Swipe"]

_V = TypeVar("_V")


def _device_accepts(check: Callable[[_V], None]) -> AfterValidator:
    """The device layer's own check of a value, run at validation: what running would refuse fails
    ``routines validate`` already, located at the field (issue 23 item 16)."""

    def validate(value: _V) -> _V:
        try:
            check(value)
        except InputError as exc:
            raise ValueError(exc.message) from None
        return value

    return AfterValidator(validate)


Package = Annotated[str, _device_accepts(check_package)]


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
    text: Annotated[str, _device_accepts(check_input_text)]

    def run(self, ex: Executor) -> None:
        ex.device_call("input_text", self.text)


@action(aliases=("sendkey",))
class SendKey(Step):
    """Send a key event: ``KEYCODE_BACK`` or a numeric key code."""

    NAME = "send_key"
    key: Annotated[str | int, _device_accepts(check_key)]

    @field_validator("key", mode="before")  # before the device check: its message is the plainer one
    @classmethod
    def _not_empty(cls, value: object) -> object:
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
    package: Package = GAME.package
    activity: Annotated[str, _device_accepts(check_activity)] | None = None

    def run(self, ex: Executor) -> None:
        activity = self.activity or (GAME.activity if self.package == GAME.package else None)
        ex.device_call("app_start", self.package, activity)


@action
class KillApp(Step):
    """Force-stop ``package`` (default: the game)."""

    NAME = "KillApp"
    package: Package = GAME.package

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
