"""A routine file: top-level keys, config params, sentries, and the step union over the 41 actions.

Top-level keys (digest §1.2): ``version`` (optional, ``1``; ours), ``routine_name``, ``description``, ``tags``,
``config`` (parsed and applied,
§11.2 item 1 fixed), ``steps``, ``sentries``. Unknown keys are errors (the seed ignored them).
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import Field, field_validator, model_validator

from emufleet.durations import DurationS
from emufleet.errors import InputError
from emufleet.routines.grammar.base import GrammarModel, StepBase, scalar_str, tagged_union
from emufleet.routines.grammar.basic import Package
from emufleet.routines.grammar.catalog import ACTIONS, CONDITION_TYPES, load_action_plugins
from emufleet.routines.grammar.conditions import ConditionBase, InvalidCondition, condition_tag

__all__ = ["AnyCondition", "AnyStep", "ConfigParam", "GameRequirement", "RoutineModel", "SentrySpec"]

# Every module of the package registers its actions and conditions as it is imported (catalog.py); importing them
# all here, before the unions are built, is what makes a new module's classes selectable.
_PACKAGE = __name__.rpartition(".")[0]
for _module in pkgutil.iter_modules(importlib.import_module(_PACKAGE).__path__):
    importlib.import_module(f"{_PACKAGE}.{_module.name}")
load_action_plugins()  # third-party actions and conditions (entry points ``emufleet.actions``), same catalogs


class InvalidStep(StepBase):
    """Selected for a step with a missing or unknown action: always fails with a message saying why."""

    model_config = GrammarModel.model_config | {"extra": "allow"}
    action: Any = None

    @model_validator(mode="before")
    @classmethod
    def _reject(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            raise ValueError(f"a step must be a mapping with an action key, got {type(data).__name__}")
        if "action" not in data:
            if len(data) == 1 and str(next(iter(data))).lower() in ACTIONS:
                raise ValueError(f"shorthand steps are not supported: write '- action: {next(iter(data))}' "
                                 "with the parameters as keys")
            raise ValueError("a step needs an action key")
        name = data["action"]
        hint = difflib.get_close_matches(str(name).lower(), ACTIONS.spellings(), n=1)
        suggestion = f" (did you mean {ACTIONS[ACTIONS.key(hint[0]) or hint[0]].NAME}?)" if hint else ""
        raise ValueError(f"unknown action {name!r}{suggestion}")


def _action_tag(data: Any) -> str:
    if isinstance(data, dict):
        name = data.get("action")
        if isinstance(name, str) and (key := ACTIONS.key(name)) is not None:
            return key
    elif isinstance(data, StepBase):
        return type(data).NAME.lower()
    return "invalid"


#: Any step, dispatched on its lower-cased ``action`` (aliases resolved), and any condition, dispatched on its
#: lower-cased ``type``: unions of the catalogs' classes, built at run time; the type checker sees the bases.
if TYPE_CHECKING:
    AnyStep: TypeAlias = StepBase
    AnyCondition: TypeAlias = ConditionBase
else:
    AnyStep = tagged_union(ACTIONS.seal(), InvalidStep, _action_tag)
    AnyCondition = tagged_union(CONDITION_TYPES.seal(), InvalidCondition, condition_tag)

ConfigType = Literal["text", "number", "checkbox", "dropdown", "hidden"]
_TYPE_DEFAULTS = {"checkbox": "false", "number": "0", "text": "", "hidden": ""}


class ConfigParam(GrammarModel):
    """A user parameter that becomes the variable ``name`` (digest §2.3). All values are strings."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
    type: ConfigType
    label: str | None = None
    description: str | None = None
    default: str | None = None
    min: float | None = None
    max: float | None = None
    options: list[str] | None = None
    required: bool = False
    persist: bool = False

    @field_validator("default", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    @field_validator("options", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return [scalar_str(v) for v in value] if isinstance(value, list) else value

    @model_validator(mode="after")
    def _consistent(self) -> ConfigParam:
        if self.type == "dropdown" and not self.options:
            raise ValueError("a dropdown needs options")
        if self.type != "number" and (self.min is not None or self.max is not None):
            raise ValueError("min/max apply to number params only")
        if self.type != "dropdown" and self.options is not None:
            raise ValueError("options apply to dropdown params only")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not exceed max")
        if self.default is not None:
            self.check(self.default)
        return self

    @property
    def type_default(self) -> str:
        """The value when nothing else is given: checkbox false, number 0, dropdown first option, else ''."""
        if self.type == "dropdown":
            return (self.options or [""])[0]
        return _TYPE_DEFAULTS[self.type]

    def check(self, value: str) -> str:
        """``value`` if it suits this param.

        Raises:
            InputError: it does not, saying why (a ``ValueError``: the param's own ``default`` is checked with it
                while the file validates, and is located there).
        """
        if self.type == "checkbox" and value not in ("true", "false"):
            raise InputError(f"{self.name}: a checkbox is true or false, got {value!r}")
        if self.type == "dropdown" and value not in (self.options or []):
            raise InputError(f"{self.name}: {value!r} is not one of {self.options}")
        if self.type == "number":
            try:
                number = float(value)
            except ValueError:
                raise InputError(f"{self.name}: not a number: {value!r}") from None
            if (self.min is not None and number < self.min) or (self.max is not None and number > self.max):
                raise InputError(f"{self.name}: {value} is outside [{self.min}, {self.max}]")
        return value


class SentrySpec(GrammarModel):
    """A sentry (digest §3.1): run ``routine`` every ``frequency`` (bare number = s; default 5 s, minimum 1 s)."""

    routine: str = Field(min_length=1)
    frequency: DurationS = 5.0
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    on_success: Literal["resume", "pause", "stop", "force_stop"] = "resume"
    on_failure: Literal["resume", "pause", "stop", "force_stop"] = "force_stop"

    @field_validator("frequency")
    @classmethod
    def _minimum(cls, value: float) -> float:
        if value < 1.0:
            raise ValueError("frequency must be at least 1 s")
        return value


class GameRequirement(GrammarModel):
    """What a routine needs installed on the instance (``requires: {package: …, min_version: "1.2"}``): checked
    before its bot starts, with the resolution (docs/farm.md, "Instance settings checked before use")."""

    package: Package
    min_version: str | None = Field(default=None, pattern=r"^[0-9A-Za-z._-]{1,40}$")


class RoutineModel(GrammarModel):
    """The whole file. ``steps`` may be empty (an empty routine is valid, digest §1.2)."""

    version: Literal[1] | None = None
    routine_name: str | None = None
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    config: list[ConfigParam] = Field(default_factory=list)
    steps: list[AnyStep] = Field(default_factory=list)
    sentries: list[SentrySpec] = Field(default_factory=list)
    requires: GameRequirement | None = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValueError(f"a routine file is a mapping of routine_name, steps, …; got {type(data).__name__}")
        if "name" in data and "routine_name" not in data:
            raise ValueError("the display name key is routine_name (name is not a top-level key)")
        return data

    @model_validator(mode="after")
    def _unique_config(self) -> RoutineModel:
        names = [p.name for p in self.config]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate config params: {', '.join(dupes)}")
        return self


# Models naming AnyStep/AnyCondition (forward references in their modules) are completed now that both exist.
_NAMESPACE = {"AnyStep": AnyStep, "AnyCondition": AnyCondition}
for _cls in (*ACTIONS.values(), *CONDITION_TYPES.values(), *GrammarModel.__subclasses__()):
    if not _cls.__pydantic_complete__:
        _cls.model_rebuild(_types_namespace=_NAMESPACE)
RoutineModel.model_rebuild()
