"""Running a routine on a bot: config params → variables, sentries, steps (digest §1.4, §2.3, §3.2).

Example::

    run = RoutineRun(registry.get("demo/account_cycle"), ctx, overrides={"packs": "2"})
    run.run()                                   # or: run.start(); run.run_step(i) for each step; run.close()
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from emufleet.errors import InputError
from emufleet.routines.context import BotContext
from emufleet.routines.executor import Executor

if TYPE_CHECKING:
    from emufleet.routines.grammar import StepBase
    from emufleet.routines.loader import Routine
    from emufleet.routines.sentries import SentryHandle

__all__ = ["RoutineRun", "apply_config"]


def apply_config(routine: Routine, ctx: BotContext, runtime: Mapping[str, str] | None = None) -> None:
    """Set the routine's config params as variables (§11.2 item 1 fixed).

    Precedence: ``runtime`` (``--set``, ``RunRoutine.config``, launch overrides) > the group's ``routine_config``
    (``ctx.group_config``) > the param's ``default`` > the type default (checkbox ``false``, number ``0``,
    dropdown the first option, text/hidden ``""``). A ``persist: true`` param already set keeps its value unless
    ``runtime`` gives one. Runtime keys that are not params are set as plain variables.

    Raises:
        InputError: a value breaks its param's type, range or options, or a ``required`` param has no value.
    """
    runtime = dict(runtime or {})
    declared = set()
    for param in routine.config:
        declared.add(param.name)
        if param.name not in runtime and param.persist and param.name in ctx.variables:
            continue
        for source in (runtime, ctx.group_config):
            if param.name in source:
                value = str(source[param.name])
                break
        else:
            if param.default is None and param.required:
                raise InputError(f"{param.name}: required, and no value was given")
            value = param.default if param.default is not None else param.type_default
        ctx.variables.set(param.name, param.check(value), persistent=param.persist)
    for name, value in runtime.items():
        if name not in declared:
            ctx.variables.set(name, value)


class RoutineRun:
    """One run of ``routine`` on the bot of ``ctx``.

    ``start()`` applies the config (``overrides`` > group > defaults) and starts the routine's sentries;
    ``run_step(i)`` runs top-level step ``i`` (the Prefect layer wraps each in a task); ``close()`` stops the
    sentries. ``run()`` does all three. Errors: ``RoutineError`` and subclasses (``StepTimeoutError``,
    ``RoutineStopped``, ``NoAccountPoolError``), ``DeviceError``, and ``InputError`` for bad config values.
    """

    def __init__(self, routine: Routine, ctx: BotContext, overrides: Mapping[str, object] | None = None) -> None:
        self.routine = routine
        self.ctx = ctx
        self.overrides = {k: str(v) for k, v in (overrides or {}).items()}
        self._executor = Executor(ctx, routine)
        self._sentries: list[SentryHandle] = []
        self._started = False

    @property
    def steps(self) -> list[StepBase]:
        """The top-level steps."""
        return self.routine.steps

    def start(self) -> None:
        """Apply config params and start the routine's sentries (first run after one interval each)."""
        if self._started:
            return
        apply_config(self.routine, self.ctx, self.overrides)
        self._sentries = self.ctx.sentries.register(self.routine.sentries)
        self._started = True

    def run_step(self, index: int) -> None:
        """Run top-level step ``index`` (nested steps included)."""
        if not self._started:
            self.start()
        self._executor.run_step(self.routine.steps[index], f"steps[{index}]")

    def close(self) -> None:
        """Stop the sentries this run started (idempotent)."""
        handles, self._sentries = self._sentries, []
        self.ctx.sentries.unregister(handles)
        self._started = False

    def run(self) -> None:
        """``start()``, every step in order, ``close()`` (also on error)."""
        self.start()
        try:
            for index in range(len(self.routine.steps)):
                self.run_step(index)
        finally:
            self.close()

    def __enter__(self) -> RoutineRun:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
