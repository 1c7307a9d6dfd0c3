"""Image checks, clicks, branches and loops (digest §1.5 "Image checks and clicks", "Image-conditioned …").

Frames: ``FindImage`` and ``ClickIf*`` may reuse a frame ≤ 100 ms old; branches, loops and ``WaitForImage``
polls take a fresh frame (digest §4.4). Loops pause 100 ms between iterations (interruptibly), treat
``max_attempts: 0`` as unlimited, fail when attempts run out, and end successfully on ``Break`` at any depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, model_validator

from emufleet.durations import DurationS
from emufleet.routines.grammar.base import Coord, Point, Step, StepBase, TemplateParams
from emufleet.routines.grammar.catalog import action

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.routines.grammar.routine import AnyStep
    from emufleet.vision import Match

__all__ = [
    "ClickIfImageFound", "ClickIfImageNotFound", "FindImage", "IfAllImagesFound", "IfAnyImagesFound",
    "IfImageFound", "IfImageNotFound", "IfNoImagesFound", "UntilAnyImagesFound", "UntilImageFound", "WaitForImage",
    "WhileAnyImagesFound", "WhileImageFound",
]

MaxAttempts = Annotated[int, Field(ge=0, strict=True)]


class _TemplateStep(TemplateParams, Step):
    def _find(self, ex: Executor, *, fresh: bool) -> Match | None:
        return ex.find(self.template, threshold=self.threshold, region=self.region, fresh=fresh)


@action
class FindImage(_TemplateStep):
    """Fail unless ``template`` is on screen (a frame ≤ 100 ms old may be reused)."""

    NAME = "FindImage"

    def run(self, ex: Executor) -> None:
        if self._find(ex, fresh=False) is None:
            raise ex.error(f"template {self.template!r} not found")


@action
class WaitForImage(TemplateParams, StepBase):
    """Poll a fresh frame every ``BotContext.wait_poll_s`` (50 ms) until ``template`` appears; fail after ``timeout``
    (bare number = **s**).

    Here ``timeout`` is the wait (the seed's meaning for this action); the step timeout is ``step_timeout``.
    """

    NAME = "WaitForImage"
    timeout: DurationS

    def run(self, ex: Executor) -> None:
        deadline = ex.clock() + self.timeout
        while True:
            if self._find(ex) is not None:
                return
            if ex.clock() >= deadline:
                raise ex.error(f"template {self.template!r} not found within {self.timeout:g} s")
            ex.sleep(min(ex.ctx.wait_poll_s, max(0.0, deadline - ex.clock())))

    def _find(self, ex: Executor) -> Match | None:
        return ex.find(self.template, threshold=self.threshold, region=self.region, fresh=True)


@action
class ClickIfImageFound(_TemplateStep):
    """If found, tap the match centre (from the template's size; §11.2 item 4 fixed) + ``offset``, or ``point``.

    Not found is a successful no-op.
    """

    NAME = "ClickIfImageFound"
    point: Point | None = None
    offset: Point | None = None

    @model_validator(mode="after")
    def _exclusive(self) -> ClickIfImageFound:
        if self.point is not None and self.offset is not None:
            raise ValueError("point and offset are mutually exclusive")
        return self

    def run(self, ex: Executor) -> None:
        match = self._find(ex, fresh=False)
        if match is None:
            return
        if self.point is not None:
            ex.tap(self.point.x, self.point.y)
            return
        cx, cy = match.center
        dx, dy = (self.offset.x, self.offset.y) if self.offset else (0, 0)
        ex.tap(round(cx + dx), round(cy + dy))


@action
class ClickIfImageNotFound(_TemplateStep):
    """Tap ``(x, y)`` only when ``template`` is absent."""

    NAME = "ClickIfImageNotFound"
    x: Coord
    y: Coord

    def run(self, ex: Executor) -> None:
        if self._find(ex, fresh=False) is None:
            ex.tap(self.x, self.y)


class _WithBody(Step):
    NESTED = ("actions",)
    actions: list[AnyStep] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _no_then_else(cls, data: Any) -> Any:
        # The seed silently ignored then/else here, leaving actions empty (digest §1.7); say what to write.
        if isinstance(data, dict) and "actions" not in data and ("then" in data or "else" in data):
            raise ValueError(f"{cls.NAME} has no then/else: put the steps under actions "
                             "(or use If with an ImageExists condition)")
        return data


@action
class IfImageFound(_WithBody, _TemplateStep):
    """Run ``actions`` when ``template`` is on a fresh frame (no else branch, as in the seed)."""

    NAME = "IfImageFound"

    def run(self, ex: Executor) -> None:
        if self._find(ex, fresh=True) is not None:
            ex.run_steps(self.actions, ("actions",))


@action
class IfImageNotFound(_WithBody, _TemplateStep):
    """Run ``actions`` when ``template`` is absent from a fresh frame."""

    NAME = "IfImageNotFound"

    def run(self, ex: Executor) -> None:
        if self._find(ex, fresh=True) is None:
            ex.run_steps(self.actions, ("actions",))


class _Templates(_WithBody):
    templates: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)

    def template_refs(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        for i, name in enumerate(self.templates):
            yield name, ("templates", i)

    def _count(self, ex: Executor) -> int:
        """How many templates match one fresh frame (all are checked, with their registry defaults)."""
        ex.fresh_frame()
        return sum(ex.find(name, fresh=False) is not None for name in self.templates)


@action
class IfAnyImagesFound(_Templates):
    """Run ``actions`` when at least one of ``templates`` matches."""

    NAME = "IfAnyImagesFound"

    def run(self, ex: Executor) -> None:
        if self._count(ex) > 0:
            ex.run_steps(self.actions, ("actions",))


@action
class IfAllImagesFound(_Templates):
    """Run ``actions`` when every one of ``templates`` matches."""

    NAME = "IfAllImagesFound"

    def run(self, ex: Executor) -> None:
        if self._count(ex) == len(self.templates):
            ex.run_steps(self.actions, ("actions",))


@action
class IfNoImagesFound(_Templates):
    """Run ``actions`` when none of ``templates`` matches."""

    NAME = "IfNoImagesFound"

    def run(self, ex: Executor) -> None:
        if self._count(ex) == 0:
            ex.run_steps(self.actions, ("actions",))


@action
class WhileImageFound(_WithBody, _TemplateStep):
    """Loop while ``template`` is found; error if still found after ``max_attempts`` (0 = unlimited) runs."""

    NAME = "WhileImageFound"
    LOOP = True
    max_attempts: MaxAttempts = 0

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: self._find(ex, fresh=True) is not None,
                f"template {self.template!r} still found")


@action
class UntilImageFound(_WithBody, _TemplateStep):
    """Loop until ``template`` is found (checked before each run); error after ``max_attempts`` runs."""

    NAME = "UntilImageFound"
    LOOP = True
    max_attempts: MaxAttempts = 0

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: self._find(ex, fresh=True) is None,
                f"template {self.template!r} not found")


@action
class WhileAnyImagesFound(_Templates):
    """Loop while any of ``templates`` matches (``Break`` supported, unlike the seed)."""

    NAME = "WhileAnyImagesFound"
    LOOP = True
    max_attempts: MaxAttempts = 0

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: self._count(ex) > 0, "templates still found")


@action
class UntilAnyImagesFound(_Templates):
    """Loop until any of ``templates`` matches (``Break`` supported, unlike the seed)."""

    NAME = "UntilAnyImagesFound"
    LOOP = True
    max_attempts: MaxAttempts = 0

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: self._count(ex) == 0, "none of the templates found")

