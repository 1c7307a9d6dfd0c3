"""How a session runs one top-level step: the :data:`StepRunner` hook and its outcomes.

The engine's own runner (:class:`InlineSteps`) calls the step on a bot thread; the Prefect adapter's runs each
step as a task run (``tasks.steps``), so the UI shows progress step by step. Both map what happened onto a
:class:`StepOutcome` and never raise for routine or device errors.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from emufleet.errors import NoAccountsAvailable, RoutineStopped
from emufleet.routines import RoutineRun

__all__ = ["BlockingCall", "InlineSteps", "StepOutcome", "StepRunner", "outcome_of", "step_label"]

#: Runs a blocking callable off the event loop: ``await call(fn, *args)``.
BlockingCall = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did.

    ``kind``: ``completed`` (``engine_s`` seconds in the engine), ``stopped`` (the controller stopped it),
    ``drained`` (``InjectNextAccount`` found the pools dry: ``message``), ``failed`` (``error``), ``unavailable``
    (the step could not be started at all, e.g. the orchestrator is unreachable; it may be retried).
    """

    kind: Literal["completed", "stopped", "drained", "failed", "unavailable"]
    engine_s: float = 0.0
    error: BaseException | None = None
    message: str | None = None


#: ``await runner(run, index, label)`` runs top-level step ``index`` of ``run``.
StepRunner = Callable[[RoutineRun, int, str], Awaitable[StepOutcome]]


def outcome_of(exc: BaseException) -> StepOutcome:
    """The outcome of a step that raised ``exc``."""
    if isinstance(exc, RoutineStopped):
        return StepOutcome("stopped")
    if isinstance(exc, NoAccountsAvailable):
        return StepOutcome("drained", message=str(exc))
    return StepOutcome("failed", error=exc)


class InlineSteps:
    """The engine's step runner: the step runs on a bot thread through ``call``."""

    def __init__(self, call: BlockingCall) -> None:
        self.call = call

    async def __call__(self, run: RoutineRun, index: int, label: str) -> StepOutcome:
        started = time.perf_counter()
        try:
            await self.call(run.run_step, index)
        except Exception as exc:
            return outcome_of(exc)
        return StepOutcome("completed", engine_s=time.perf_counter() - started)


def step_label(run: RoutineRun, index: int) -> str:
    """``"<index>: <action or name>"`` for task-run names and the bot status (e.g. ``"2: RunRoutine"``)."""
    step = run.steps[index]
    action = getattr(step, "action", None) or type(step).__name__
    name = getattr(step, "name", None)
    return f"{index}: {name or action}"
