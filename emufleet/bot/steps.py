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
from emufleet.outcome import Outcome
from emufleet.routines import RoutineRun

__all__ = ["BlockingCall", "InlineSteps", "StepKind", "StepOutcome", "StepRunner", "outcome_of", "step_label"]

#: Runs a blocking callable off the event loop: ``await call(fn, *args)``.
BlockingCall = Callable[..., Awaitable[Any]]
#: What a step can end as.
StepKind = Literal[Outcome.COMPLETED, Outcome.STOPPED, Outcome.DRAINED, Outcome.FAILED, Outcome.UNAVAILABLE]


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What one step did.

    ``kind``: :class:`~emufleet.outcome.Outcome` ``COMPLETED`` (``engine_s`` seconds in the engine), ``STOPPED``
    (the controller stopped it), ``DRAINED`` (``InjectNextAccount`` found the pools dry: ``message``), ``FAILED``
    (``error``), ``UNAVAILABLE`` (the step could not be started at all, e.g. the orchestrator is unreachable; it
    may be retried).
    """

    kind: StepKind
    engine_s: float = 0.0
    error: BaseException | None = None
    message: str | None = None


#: ``await runner(run, index, label)`` runs top-level step ``index`` of ``run``.
StepRunner = Callable[[RoutineRun, int, str], Awaitable[StepOutcome]]


def outcome_of(exc: BaseException) -> StepOutcome:
    """The outcome of a step that raised ``exc``."""
    if isinstance(exc, RoutineStopped):
        return StepOutcome(Outcome.STOPPED)
    if isinstance(exc, NoAccountsAvailable):
        return StepOutcome(Outcome.DRAINED, message=str(exc))
    return StepOutcome(Outcome.FAILED, error=exc)


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
        return StepOutcome(Outcome.COMPLETED, engine_s=time.perf_counter() - started)


def step_label(run: RoutineRun, index: int) -> str:
    """``"<index>: <action or name>"`` for task-run names and the bot status (e.g. ``"2: RunRoutine"``)."""
    step = run.steps[index]
    action = getattr(step, "action", None) or type(step).__name__
    name = getattr(step, "name", None)
    return f"{index}: {name or action}"
