"""Shared pieces of the routine grammar: the step envelope, template parameters, points and regions.

Step envelope (digest §1.3, with §11.2 item 3 fixed):

* ``action``: the action name, case-insensitive (``Click`` = ``click``).
* ``step_timeout``: a duration (bare number = ms) after which the step is stopped and fails with
  ``StepTimeoutError``; allowed on any step, enforced cooperatively (the step really stops).
* ``stuck_after``: a duration (bare number = s): supervision calls the bot stuck only after this long without
  progress while this step runs (a long, legitimate wait); default: the group's ``recovery.stuck_after``.
* ``checkpoint: true`` (top-level steps): after a recovery the routine resumes at the last checkpoint it passed
  instead of its first step (for example past ``InjectNextAccount``, so that the same account goes on).
* ``timeout``: the seed's spelling of the step timeout (ms) on every action **except** ``WaitForImage``
  (where it is the wait, bare number = s) and ``InjectNextAccount`` (the pool wait, bare number = ms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Field, PrivateAttr, Tag, model_validator

from emufleet.durations import DurationMs, DurationS
from emufleet.vision.space import RegionMapping

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.routines.grammar.conditions import ConditionBase

__all__ = ["Coord", "GrammarModel", "Point", "StepBase", "Step", "TemplateParams", "Threshold",
           "scalar_str", "tagged_union"]

Coord = Annotated[int, Field(ge=0, strict=False)]
Threshold = Annotated[float, Field(ge=0.0, le=1.0)]


def scalar_str(value: Any) -> Any:
    """YAML scalars for string fields: ``5`` → ``"5"``, ``true`` → ``"true"`` (the seed's values are strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int | float) else value


def tagged_union(members: Sequence[type[Any]], invalid: type[Any], tag: Callable[[Any], str]) -> Any:
    """The union of ``members`` (each tagged with its lower-cased ``NAME``) and ``invalid`` (tagged ``"invalid"``).

    ``tag(data)`` names the member that validates ``data``: ``"invalid"`` for a missing or unknown name, so that
    ``invalid``'s validator says what is wrong. One tuple of classes thus drives both the name table and the union.
    """
    tagged = tuple(Annotated[m, Tag(m.NAME.lower())] for m in members)
    return Annotated[Union[(*tagged, Annotated[invalid, Tag("invalid")])], Discriminator(tag)]


class GrammarModel(BaseModel):
    """Base of every model of routine YAML: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Point(GrammarModel):
    """A point ``{x, y}`` in the template set's coordinate space."""

    x: int
    y: int


class StepBase(GrammarModel):
    """The envelope every step shares. Subclasses set ``NAME`` (canonical spelling), implement :meth:`run` and
    register with ``@action`` (:mod:`.catalog`)."""

    NAME: ClassVar[str] = ""
    #: Nested step lists of this action, by field name (for the load-time walkers).
    NESTED: ClassVar[tuple[str, ...]] = ()
    #: A loop: ``Break`` inside it (at any depth) leaves it.
    LOOP: ClassVar[bool] = False

    action: str
    step_timeout: DurationMs | None = None
    stuck_after: DurationS | None = Field(default=None, gt=0)  # supervision: this step may wait this long
    checkpoint: bool = False  # top-level steps: after a recovery, the routine resumes at the last one passed
    _pos: tuple[int, int] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_position(cls, data: Any, handler: Any) -> Any:
        step = handler(data)
        pos = getattr(data, "pos", None)
        if pos is not None:
            step._pos = pos
        return step

    @property
    def line(self) -> int | None:
        """1-based line of the step in its file (``None`` if built from plain data)."""
        return self._pos[0] if self._pos else None

    @property
    def timeout_s(self) -> float | None:
        """The step timeout in seconds, if any."""
        return self.step_timeout

    def children(self) -> Iterator[tuple[tuple[str | int, ...], Sequence[StepBase]]]:
        """``(loc, steps)`` for each nested step list; ``loc`` is the path below the step (``("actions",)``)."""
        for name in self.NESTED:
            value = getattr(self, name)
            if value:
                yield (name,), value

    def conditions(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        """``(loc, condition)`` for each condition of the step (``If``, ``While``, ``Until``)."""
        return iter(())

    def template_refs(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        """``(template name, field path)`` of every template this step names directly (not nested steps)."""
        return iter(())

    def run(self, ex: Executor) -> None:  # pragma: no cover - every action overrides it
        raise NotImplementedError(self.NAME)


class Step(StepBase):
    """A step that also accepts the seed's top-level ``timeout`` (ms) as its step timeout."""

    timeout: DurationMs | None = None

    @model_validator(mode="after")
    def _one_timeout(self) -> Step:
        if self.timeout is not None and self.step_timeout is not None:
            raise ValueError("give either timeout (the seed's name) or step_timeout, not both")
        return self

    @property
    def timeout_s(self) -> float | None:
        return self.step_timeout if self.step_timeout is not None else self.timeout


class TemplateParams(GrammarModel):
    """Common template parameters of image actions (digest §1.5): ``template``, ``threshold``, ``region``.

    ``threshold`` overrides the template's (an integer such as ``1`` is accepted, unlike the seed's loop
    parsers); ``region`` overrides the template's search region, in the template set's space.
    """

    template: str = Field(min_length=1)
    threshold: Threshold | None = None
    region: RegionMapping | None = None

    def template_refs(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        yield self.template, ("template",)
