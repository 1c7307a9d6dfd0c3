"""Launch-time check of a routine's config values: the seed's ``missing_variable`` and ``invalid_config``
validation errors (seed ``000_…`` "Validation Errors"), before any bot starts.

A ``required`` param without a ``default`` must be given a value, or every bot fails at its first step ("target:
required, and no value was given") and restarts in vain. Values come from where :func:`emufleet.routines.run.
apply_config` takes them when the routine runs: for the launched routine, the group's ``routine_config`` (and
``group_config``); for a routine it calls with ``RunRoutine``, that step's ``config`` keys (and ``group_config``).
Each sub-routine is checked once per distinct set of given values; cycles are the registry's error already.
"""

from __future__ import annotations

from collections.abc import Mapping

from emufleet.errors import InputError, RoutineValidationError
from emufleet.routines.grammar.flow import RunRoutine
from emufleet.routines.loader import Routine, walk_steps
from emufleet.routines.registry import RoutineRegistry
from emufleet.validation import format_loc

__all__ = ["check_config"]


def check_config(registry: RoutineRegistry, key: str, routine_config: Mapping[str, str], *,
                 group_config: Mapping[str, str] | None = None) -> list[RoutineValidationError]:
    """Every config problem of routine ``key`` run with ``routine_config``, sub-routines included.

    Returns located errors (the param's line in its routine file), each message starting with its seed kind:
    ``missing_variable: …`` (required, no default, no value) or ``invalid_config: …`` (a given constant breaks
    the param's type, range or options). An empty list means the launch can go ahead.

    Raises:
        RoutineError: ``key`` (or a routine it calls) is not in the registry.
    """
    group = dict(group_config or {})
    errors: list[RoutineValidationError] = []
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()

    def visit(routine: Routine, given: Mapping[str, str], via: str) -> None:
        names = frozenset(given.items())
        if (routine.key, names) in seen:
            return
        seen.add((routine.key, names))
        for i, param in enumerate(routine.config):
            value = given.get(param.name, group.get(param.name))
            if value is None:
                if param.required and param.default is None:
                    errors.append(routine.error(
                        f"missing_variable: {param.name!r} is required and has no default, and {via} gives it no "
                        f"value (set it in the group's routine_config or with --set {param.name}=…)",
                        ("config", i, "name")))
            elif "${" not in value:  # an interpolated value is only known when the step runs
                try:
                    param.check(value)
                except InputError as exc:
                    errors.append(routine.error(f"invalid_config: {exc} (given by {via})", ("config", i, "name")))
        for step, loc, _ in walk_steps(routine.steps):
            if isinstance(step, RunRoutine):
                sub = registry.get(step.routine)
                visit(sub, step.config, f"RunRoutine at {routine.key}:{format_loc(loc)}")

    visit(registry.get(key), dict(routine_config), "the group")
    return errors


