"""Reading one routine file: YAML with positions → :class:`Routine`, or every located error it has.

Errors are :class:`~emufleet.errors.RoutineValidationError` s reading ``file:line:col: field: message``,
sorted by position, one per problem (unknown action, unknown key, bad parameter, ``Break`` outside a loop).
Cross-file checks (templates, routine references, cycles) are the registry's (:mod:`.registry`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from emufleet.errors import RoutineValidationError
from emufleet.routines.grammar import ConfigParam, RoutineModel, SentrySpec, StepBase
from emufleet.validation import format_loc, locate, validation_errors
from emufleet.yamlio import load_yaml, loads_yaml

__all__ = ["Loc", "Routine", "format_loc", "load_routine", "read_routine", "walk_steps"]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, eq=False)
class Routine:
    """A validated routine: registry ``key``, source ``path``, the parsed ``model`` and its marked ``data``."""

    key: str
    path: Path
    model: RoutineModel
    data: Any = field(repr=False, default=None)

    @property
    def name(self) -> str:
        """Display name: ``routine_name`` or the key."""
        return self.model.routine_name or self.key

    @property
    def tags(self) -> list[str]:
        return self.model.tags

    @property
    def steps(self) -> list[StepBase]:
        return self.model.steps

    @property
    def config(self) -> list[ConfigParam]:
        return self.model.config

    @property
    def sentries(self) -> list[SentrySpec]:
        return self.model.sentries

    def error(self, message: str, loc: Loc) -> RoutineValidationError:
        """A validation error located at ``loc`` (a path into the file's data) of this routine."""
        pos = locate(self.data, loc) if self.data is not None else None
        line, col = pos if pos else (None, None)
        return RoutineValidationError(message, file=self.path, line=line, col=col, field=format_loc(loc) or None)


def _errors(exc: pydantic.ValidationError, data: Any, file: Path) -> list[RoutineValidationError]:
    # A document that is a bare scalar has no position: its errors are at the start of the file.
    return [e if e.line is not None else RoutineValidationError(e.message, file=file, line=1, col=1, field=e.field)
            for e in validation_errors(exc, data, file, error=RoutineValidationError)]


def walk_steps(steps: Sequence[StepBase], loc: Loc = ("steps",), *, in_loop: bool = False
               ) -> Iterator[tuple[StepBase, Loc, bool]]:
    """Every step, depth first: ``(step, loc in the file's data, inside a loop?)``."""
    for i, step in enumerate(steps):
        here = (*loc, i)
        yield step, here, in_loop
        looping = in_loop or step.LOOP
        for sub, children in step.children():
            yield from walk_steps(children, (*here, *sub), in_loop=looping)


def _structural_errors(routine: Routine) -> list[RoutineValidationError]:
    return [routine.error("Break outside a loop", (*loc, "action"))
            for step, loc, in_loop in walk_steps(routine.steps) if step.NAME == "Break" and not in_loop]


def read_routine(path: str | Path, key: str, *, text: str | None = None
                 ) -> tuple[Routine | None, list[RoutineValidationError]]:
    """Parse and validate one file; ``(routine, [])`` or ``(None, errors)``. Never raises for bad input."""
    path = Path(path)
    try:
        data = loads_yaml(text, path, error=RoutineValidationError) if text is not None else \
            load_yaml(path, error=RoutineValidationError)
    except RoutineValidationError as exc:
        if exc.line is None and (text is not None or path.is_file()):  # a reader error (bad character): no mark
            exc = RoutineValidationError(exc.message, file=path, line=1, col=1)
        return None, [exc]
    except TypeError as exc:  # emufleet.yamlio cannot hash a non-scalar mapping key ("[]: x")
        return None, [RoutineValidationError(f"YAML: mapping keys must be scalars ({exc})", file=path, line=1,
                                             col=1)]
    if data is None:  # an empty file (or comments only) is no routine, not one that does nothing
        return None, [RoutineValidationError("the file is empty: a routine needs at least its steps", file=path,
                                             line=1, col=1)]
    try:
        model = RoutineModel.model_validate(data)
    except pydantic.ValidationError as exc:
        return None, _errors(exc, data, path)
    routine = Routine(key=key, path=path, model=model, data=data)
    errors = _structural_errors(routine)
    return (None, errors) if errors else (routine, [])


def load_routine(path: str | Path, key: str | None = None) -> Routine:
    """Like :func:`read_routine` but raise the first error (the others are in its ``errors`` attribute)."""
    path = Path(path)
    routine, errors = read_routine(path, key or path.stem)
    if errors:
        first = errors[0]
        first.errors = list(errors)
        raise first
    assert routine is not None
    return routine
