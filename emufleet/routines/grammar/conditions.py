"""The 15 condition types of ``If``/``While``/``Until`` (digest §2.1), selected by a case-insensitive ``type``.

* ``ImageExists`` / ``ImageNotExists``: a **fresh** frame; ``template`` may contain ``${var}`` (checked at run
  time), otherwise it must be registered (checked at load time).
* ``Not`` / ``All`` / ``Any`` / ``None``: logic; ``All``/``Any`` short-circuit.
* ``VariableEquals`` / ``VariableNotEquals``: string equality; ``VariableGreaterThan``/``LessThan``/
  ``GreaterThanOrEqual``/``LessThanOrEqual``: float comparison, ``value`` must be a number at load time;
  ``VariableContains``/``StartsWith``/``EndsWith``: substring tests.

An undefined variable is an error, not false (digest §2.1). ``value`` is not interpolated (as in the seed).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, field_validator, model_validator

from emufleet.routines.grammar.base import GrammarModel, Threshold, scalar_str
from emufleet.routines.grammar.catalog import CONDITION_TYPES, condition
from emufleet.routines.variables import references
from emufleet.vision.space import RegionMapping

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.routines.grammar.routine import AnyCondition

__all__ = ["ConditionBase", "InvalidCondition", "condition_tag"]


class ConditionBase(GrammarModel):
    """A condition; :meth:`evaluate` returns a bool or raises ``RoutineError``."""

    NAME: ClassVar[str] = ""
    type: str

    def evaluate(self, ex: Executor) -> bool:  # pragma: no cover - every type overrides it
        raise NotImplementedError(self.NAME)

    def children(self) -> Iterator[ConditionBase]:
        return iter(())

    def template_refs(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        """``(template, path)`` pairs with registrable names (``${…}`` names are checked at run time)."""
        for child_path, child in self._child_paths():
            for name, path in child.template_refs():
                yield name, (*child_path, *path)

    def _child_paths(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        return iter(())


class _Image(ConditionBase):
    template: str = Field(min_length=1)
    threshold: Threshold | None = None
    region: RegionMapping | None = None

    def template_refs(self) -> Iterator[tuple[str, tuple[str | int, ...]]]:
        if not references(self.template):
            yield self.template, ("template",)

    def _found(self, ex: Executor) -> bool:
        name = ex.interpolate(self.template)
        return ex.find(name, threshold=self.threshold, region=self.region, fresh=True) is not None


@condition
class ImageExists(_Image):
    NAME = "ImageExists"

    def evaluate(self, ex: Executor) -> bool:
        return self._found(ex)


@condition
class ImageNotExists(_Image):
    NAME = "ImageNotExists"

    def evaluate(self, ex: Executor) -> bool:
        return not self._found(ex)


@condition
class Not(ConditionBase):
    NAME = "Not"
    condition: AnyCondition

    def evaluate(self, ex: Executor) -> bool:
        return not self.condition.evaluate(ex)

    def _child_paths(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        yield ("condition",), self.condition


class _Group(ConditionBase):
    conditions: list[AnyCondition] = Field(min_length=1)

    def _child_paths(self) -> Iterator[tuple[tuple[str | int, ...], ConditionBase]]:
        for i, cond in enumerate(self.conditions):
            yield ("conditions", i), cond


@condition
class All(_Group):
    NAME = "All"

    def evaluate(self, ex: Executor) -> bool:
        return all(c.evaluate(ex) for c in self.conditions)


@condition
class AnyOf(_Group):
    NAME = "Any"

    def evaluate(self, ex: Executor) -> bool:
        return any(c.evaluate(ex) for c in self.conditions)


@condition
class NoneOf(_Group):
    NAME = "None"

    def evaluate(self, ex: Executor) -> bool:
        return not any(c.evaluate(ex) for c in self.conditions)


class _Variable(ConditionBase):
    variable: str = Field(min_length=1)

    @field_validator("*", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return scalar_str(value)

    @field_validator("*")
    @classmethod
    def _literal(cls, value: Any) -> Any:
        # A literal "${x}" would be compared as text, never as the variable: say so at load time.
        if isinstance(value, str) and references(value):
            raise ValueError(f"{value!r}: condition values are not interpolated (compare with a literal)")
        return value


class _Compare(_Variable):
    value: str
    op: ClassVar[Callable[[Any, Any], bool]]

    def evaluate(self, ex: Executor) -> bool:
        return type(self).op(ex.variable(self.variable), self.value)


@condition
class VariableEquals(_Compare):
    NAME = "VariableEquals"
    op = operator.eq


@condition
class VariableNotEquals(_Compare):
    NAME = "VariableNotEquals"
    op = operator.ne


class _Numeric(_Variable):
    value: str
    op: ClassVar[Callable[[Any, Any], bool]]

    @field_validator("value")
    @classmethod
    def _number(cls, value: str) -> str:
        try:
            float(value)
        except ValueError:
            raise ValueError(f"must be a number, got {value!r}") from None
        return value

    def evaluate(self, ex: Executor) -> bool:
        raw = ex.variable(self.variable)
        try:
            current = float(raw)
        except ValueError:
            raise ex.error(f"variable {self.variable!r} is not a number: {raw!r}") from None
        return type(self).op(current, float(self.value))


@condition
class VariableGreaterThan(_Numeric):
    NAME = "VariableGreaterThan"
    op = operator.gt


@condition
class VariableLessThan(_Numeric):
    NAME = "VariableLessThan"
    op = operator.lt


@condition
class VariableGreaterThanOrEqual(_Numeric):
    NAME = "VariableGreaterThanOrEqual"
    op = operator.ge


@condition
class VariableLessThanOrEqual(_Numeric):
    NAME = "VariableLessThanOrEqual"
    op = operator.le


@condition
class VariableContains(_Variable):
    NAME = "VariableContains"
    substring: str

    def evaluate(self, ex: Executor) -> bool:
        return self.substring in ex.variable(self.variable)


@condition
class VariableStartsWith(_Variable):
    NAME = "VariableStartsWith"
    prefix: str

    def evaluate(self, ex: Executor) -> bool:
        return ex.variable(self.variable).startswith(self.prefix)


@condition
class VariableEndsWith(_Variable):
    NAME = "VariableEndsWith"
    suffix: str

    def evaluate(self, ex: Executor) -> bool:
        return ex.variable(self.variable).endswith(self.suffix)


class InvalidCondition(ConditionBase):
    """Stand-in selected for a missing or unknown ``type``: always fails validation with a clear message."""

    model_config = GrammarModel.model_config | {"extra": "allow"}
    type: Any = None

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a condition must be a mapping with a type, got {type(data).__name__}")
        if "type" not in data:
            raise ValueError(f"a condition needs a type (one of {', '.join(CONDITION_TYPES.names())})")
        raise ValueError(f"unknown condition type {data['type']!r} (one of {', '.join(CONDITION_TYPES.names())})")


def condition_tag(data: Any) -> str:
    """The catalog key of the condition class that validates ``data`` (``"invalid"`` if none)."""
    if isinstance(data, dict):
        kind = data.get("type")
        if isinstance(kind, str) and (key := CONDITION_TYPES.key(kind)) is not None:
            return key
    elif isinstance(data, ConditionBase):
        return type(data).NAME.lower()
    return "invalid"
