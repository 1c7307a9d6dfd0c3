"""A top-level routine step as a Prefect task: the unit of progress the UI shows (DESIGN "Costs").

A tap or a screenshot is never a task (≈ 4–7 ms and ≈ 19 KB of server database each); a top-level step is, and
all per-iteration work of a loop stays inside its step. The engine call runs in a worker thread so the bots of
one launch (async subflows on one event loop) run concurrently; the controller, not the thread, is what stops it.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled, State

from emufleet.errors import RoutineStopped
from emufleet.routines import RoutineRun

__all__ = ["run_step", "step_label"]


def step_label(run: RoutineRun, index: int) -> str:
    """``"<index>: <action>"`` for task-run names and the bot status (e.g. ``"2: RunRoutine"``)."""
    step = run.steps[index]
    action = getattr(step, "action", None) or type(step).__name__
    name = getattr(step, "name", None)
    return f"{index}: {name or action}"


@task(name="step", cache_policy=NO_CACHE, persist_result=False, log_prints=False)
async def run_step(run: RoutineRun, index: int) -> State | None:
    """Run top-level step ``index`` of ``run``.

    A step stopped through the controller ends ``Cancelled`` (call it with ``return_state=True`` to see that);
    engine errors propagate (``RoutineError``, ``DeviceError``, …) and fail the task run.
    """
    try:
        await asyncio.to_thread(run.run_step, index)
    except RoutineStopped:
        return Cancelled(message="stopped")
    return None
