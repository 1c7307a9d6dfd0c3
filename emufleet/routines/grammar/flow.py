"""Generic control flow, routine calls and variables (digest §1.5 "Generic control flow …", "Variables").

``Break`` leaves the innermost loop from any depth (through ``If`` and image ifs; §11.2 item 2 fixed); a
``Break`` outside every loop is a load-time error. ``RunRoutine`` applies the sub-routine's config with
``config`` overrides and starts the sub-routine's own sentries (both missing in the seed, §1.5, §3.2).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from emufleet.errors import RoutineError
from emufleet.routines.control import BreakLoop
from emufleet.routines.grammar.base import GrammarModel, Step, StepBase, scalar_str
from emufleet.routines.grammar.catalog import action
from emufleet.routines.grammar.conditions import ConditionBase

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.routines.grammar.routine import AnyCondition, AnyStep

__all__ = ["Break", "Decrement", "ElseIf", "GetVariable", "If", "Increment", "Repeat", "RunRoutine", "SetVariable",
           "Until", "While"]

MaxAttempts = Annotated[int, Field(ge=0, strict=True)]
VarName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]


@action
class Repeat(Step):
    """Run ``actions`` ``iterations`` times (> 0); ``Break`` ends early."""

    NAME = "Repeat"
    NESTED = ("actions",)
    LOOP = True
    iterations: Annotated[int, Field(gt=0, strict=True)]
    actions: list[AnyStep] = Field(min_length=1)

    def run(self, ex: Executor) -> None:
        try:
            for _ in range(self.iterations):
                ex.checkpoint()
                ex.run_steps(self.actions, ("actions",))
        except BreakLoop:
            return


class ElseIf(GrammarModel):
    """One ``elseif`` branch: ``{condition, then}``."""

    condition: AnyCondition
    then: list[AnyStep] = Field(min_length=1)


@action
class If(Step):
    """First branch whose condition holds runs: ``then``, each ``elseif``, else ``else``.

    A condition error (an undefined variable) fails the step; it does not count as false (digest §1.5).
    """

    NAME = "If"
    condition: AnyCondition
    then: list[AnyStep] = Field(min_length=1)
    elseif: list[ElseIf] = Field(default_factory=list)
    else_: list[AnyStep] = Field(default_factory=list, alias="else")

    model_config = Step.model_config | {"populate_by_name": True}

    def children(self) -> Iterator[tuple[tuple[str | int, ...], Sequence[StepBase]]]:
        yield ("then",), self.then
        for i, branch in enumerate(self.elseif):
            yield ("elseif", i, "then"), branch.then
        if self.else_:
            yield ("else",), self.else_

    def conditions(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        yield ("condition",), self.condition
        for i, branch in enumerate(self.elseif):
            yield ("elseif", i, "condition"), branch.condition

    def run(self, ex: Executor) -> None:
        if self.condition.evaluate(ex):
            ex.run_steps(self.then, ("then",))
            return
        for i, branch in enumerate(self.elseif):
            if branch.condition.evaluate(ex):
                ex.run_steps(branch.then, ("elseif", i, "then"))
                return
        if self.else_:
            ex.run_steps(self.else_, ("else",))


@action
class While(Step):
    """Loop while ``condition`` holds; error after ``max_attempts`` (0 = unlimited) body runs."""

    NAME = "While"
    NESTED = ("actions",)
    LOOP = True
    condition: AnyCondition
    actions: list[AnyStep] = Field(min_length=1)
    max_attempts: MaxAttempts = 0

    def conditions(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        yield ("condition",), self.condition

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: self.condition.evaluate(ex), "condition still true")


@action
class Until(While):
    """Loop until ``condition`` holds (checked before each run); error after ``max_attempts`` runs."""

    NAME = "Until"

    def run(self, ex: Executor) -> None:
        ex.loop(self.actions, self.max_attempts, lambda: not self.condition.evaluate(ex), "condition still false")


@action
class Break(Step):
    """Leave the innermost loop (``Repeat``, ``While``, ``Until``, the image loops), from any depth."""

    NAME = "Break"

    def run(self, ex: Executor) -> None:
        raise BreakLoop()


@action
class RunRoutine(Step):
    """Run the routine registered as ``routine`` on the same bot (same variables and controller).

    ``config`` overrides the sub-routine's config params (values are ``${var}``-interpolated); its sentries
    run while it runs. ``label`` is a display name.
    """

    NAME = "RunRoutine"
    routine: str = Field(min_length=1)
    label: str | None = None
    config: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _seed_spelling(cls, data: Any) -> Any:
        if isinstance(data, dict) and "routine" not in data and "routine_name" in data:
            raise ValueError("RunRoutine takes routine: <registry key> (routine_name is not a key)")
        return data

    @field_validator("config", mode="before")
    @classmethod
    def _config_strings(cls, value: Any) -> Any:
        return {k: scalar_str(v) for k, v in value.items()} if isinstance(value, dict) else value

    def run(self, ex: Executor) -> None:
        overrides = {k: ex.interpolate(v) for k, v in self.config.items()}
        ex.run_routine(self.routine, overrides)


@action
class SetVariable(Step):
    """Set ``name`` to ``value`` (``${var}``-interpolated; an undefined reference fails the step)."""

    NAME = "SetVariable"
    name: VarName
    value: str

    @field_validator("value", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    def run(self, ex: Executor) -> None:
        ex.ctx.variables.set(self.name, ex.interpolate(self.value))


@action
class GetVariable(Step):
    """Fail unless ``name`` is set; copy it to ``target`` when given."""

    NAME = "GetVariable"
    name: VarName
    target: VarName | None = None

    def run(self, ex: Executor) -> None:
        value = ex.variable(self.name)
        if self.target:
            ex.ctx.variables.set(self.target, value)


@action
class Increment(Step):
    """Add ``amount`` (an integer, default 1) to ``name``; a missing variable counts as 0."""

    NAME = "Increment"
    SIGN: ClassVar[int] = 1
    name: VarName
    amount: int = 1

    @field_validator("amount", mode="before")
    @classmethod
    def _integer(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise ValueError(f"amount must be an integer, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"amount must be an integer, got {value!r}")
        return value

    def run(self, ex: Executor) -> None:
        try:
            ex.ctx.variables.add(self.name, self.SIGN * self.amount)
        except RoutineError as exc:
            raise ex.error(str(exc)) from None


@action
class Decrement(Increment):
    """Subtract ``amount`` (default 1) from ``name``."""

    NAME = "Decrement"
    SIGN = -1

