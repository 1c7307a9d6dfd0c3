"""A top-level routine step as a Prefect task: the unit of progress the UI shows (DESIGN "Costs").

A tap or a screenshot is never a task (≈ 4–7 ms and ≈ 19 KB of server database each); a top-level step is, and
all per-iteration work of a loop stays inside its step. The engine call runs in a worker thread so the bots of
one launch (async subflows on one event loop) run concurrently; the controller, not the thread, is what stops it.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import Executor

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled, Completed, State

from emufleet.errors import NoAccountsAvailable, RoutineStopped
from emufleet.routines import RoutineRun

__all__ = ["DRAINED", "run_step", "step_label"]

DRAINED = "Drained"  # state name of a step that found no account left in the pools


def step_label(run: RoutineRun, index: int) -> str:
    """``"<index>: <action>"`` for task-run names and the bot status (e.g. ``"2: RunRoutine"``)."""
    step = run.steps[index]
    action = getattr(step, "action", None) or type(step).__name__
    name = getattr(step, "name", None)
    return f"{index}: {name or action}"


@task(name="step", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
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
