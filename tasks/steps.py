"""A top-level routine step as a Prefect task: the unit of progress the UI shows (DESIGN "Costs").

A tap or a screenshot is never a task (≈ 4–7 ms and ≈ 19 KB of server database each); a top-level step is, and
all per-iteration work of a loop stays inside its step. The engine call runs in a worker thread so the bots of
one launch (async subflows on one event loop) run concurrently; the controller, not the thread, is what stops it.
:class:`TaskSteps` is the bot session's step runner (:data:`emufleet.bot.steps.StepRunner`) under Prefect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from concurrent.futures import Executor
from typing import cast

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State
from prefect.context import FlowRunContext, TagsContext
from prefect.states import Cancelled, Completed

from adapters import handled
from emufleet import tracing
from emufleet.bot.steps import StepOutcome, outcome_of
from emufleet.errors import EmufleetError, NoAccountsAvailable, RoutineStopped
from emufleet.outcome import Outcome
from emufleet.routines import RoutineRun

__all__ = ["DRAINED", "TaskSteps", "call_step", "forget_task_run", "run_step"]

DRAINED = "Drained"  # state name of a step that found no account left in the pools
handled.install()  # a step's emufleet error is the bot's to handle: one WARNING line, not an ERROR traceback


@task(name=handled.STEP_TASK, cache_policy=NO_CACHE, persist_result=False, log_prints=False)
async def run_step(run: RoutineRun, index: int, executor: Executor | None = None) -> float | State:
    """Run top-level step ``index`` of ``run``.

    Call it with ``return_state=True``: a step stopped through the controller ends ``Cancelled``; a step whose
    ``InjectNextAccount`` found the pools dry ends ``Completed`` named :data:`DRAINED` (the bot's normal end, not
    an error); engine errors propagate (``RoutineError``, ``DeviceError``, …) and fail the task run.
    Returns the seconds spent in the engine (the rest of the call's time is Prefect's: ``benchmarks/``).
    ``executor`` runs the blocking engine call (the launch's bot threads; ``None``: asyncio's default).
    """
    started = time.perf_counter()
    try:
        await asyncio.get_running_loop().run_in_executor(executor, run.run_step, index)
    except RoutineStopped:
        return Cancelled(message="stopped")
    except NoAccountsAvailable as exc:  # the engine lets pool errors through unwrapped
        return Completed(name=DRAINED, message=str(exc))
    return time.perf_counter() - started


async def call_step(run: RoutineRun, index: int, name: str, executor: Executor | None = None) -> State:
    """Run step ``index`` as a task run named ``name`` and return its final state (see :func:`run_step`).

    The task run carries no tags. A task run inherits the caller's tags (a bot's: ``emufleet``, its group, its
    claim tag), and Prefect asks the server for a ``tag:<name>`` concurrency slot for every tagged task
    run before starting it: one more API round trip (a write on the server) per step, which on a busy SQLite
    server waited seconds behind HTTP 503 back-off. The step's flow run keeps the tags, so the UI filters alike.
    """
    with TagsContext(current_tags=set()):
        # Prefect's overloads type an async task's return_state=True call as the State; it is a coroutine of it
        pending = cast(Awaitable[State], run_step.with_options(task_run_name=name)(run, index, executor,
                                                                                    return_state=True))
        state = await pending
    forget_task_run(state)
    return state


def forget_task_run(state: State) -> None:
    """Drop what the flow run's context keeps of the finished task run of ``state``, for good.

    Prefect keeps, per task run of a flow run and for as long as the flow run lives, an entry in
    ``FlowRunContext.task_run_assets`` (an empty set for a task without assets) and one in ``run_results`` (a copy of
    the final state, keyed by the ``id()`` of its result, for dependency tracking when a result is passed to
    another task). A bot's flow run lives for hours and runs a task per step: entries without end (measured by
    ``benchmarks/chaos.py --tracemalloc``). A step's result is never passed to another task, so nothing needs them.
    """
    ctx = FlowRunContext.get()
    task_run_id = state.state_details.task_run_id
    if ctx is None or task_run_id is None:
        return
    ctx.task_run_assets.pop(task_run_id, None)
    for key in [k for k, (linked, *_) in ctx.run_results.items() if linked.state_details.task_run_id == task_run_id]:
        ctx.run_results.pop(key, None)


class TaskSteps:
    """The session's step runner under Prefect: each top-level step is a task run named ``bot<N> step <label>``."""

    def __init__(self, bot: int, executor: Executor | None) -> None:
        self.bot = bot
        self.executor = executor

    async def __call__(self, run: RoutineRun, index: int, label: str) -> StepOutcome:
        try:
            state = await call_step(run, index, f"bot{self.bot} step {label}", self.executor)
        except Exception as exc:  # the task machinery itself failed (server unreachable): the step never ran
            return StepOutcome(Outcome.UNAVAILABLE, error=exc)
        tracing.annotate({"prefect.task_run.id": str(state.state_details.task_run_id)})  # the step's span, if traced
        if state.is_cancelled():
            return StepOutcome(Outcome.STOPPED)
        if state.name == DRAINED:
            return StepOutcome(Outcome.DRAINED, message=state.message)
        if state.is_completed():
            return StepOutcome(Outcome.COMPLETED, engine_s=float(await state.aresult()))
        error = await state.aresult(raise_on_failure=False)
        if isinstance(error, BaseException):
            return outcome_of(error)
        return StepOutcome(Outcome.FAILED, error=EmufleetError(f"step ended {state.name}: {state.message}"))
