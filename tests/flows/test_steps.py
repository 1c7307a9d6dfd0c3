"""Step task runs under a long-lived flow run: what Prefect keeps of each one is dropped (a bot runs for hours)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from prefect import flow
from prefect.context import FlowRunContext

from emufleet.bot.steps import StepOutcome
from emufleet.errors import RoutineError
from emufleet.outcome import Outcome
from emufleet.routines import BotContext, Controller, RoutineRegistry, RoutineRun
from flows.server import PrefectServer
from tasks.steps import TaskSteps, call_step

STEPS = 40


def test_a_flow_run_keeps_nothing_per_finished_step(prefect_server: PrefectServer, tmp_path: Path) -> None:
    """Before, each step task run left an entry in the flow run context's ``task_run_assets`` and ``run_results``
    (its final state): 40 steps left 40 of each, a bot's night hundreds of thousands."""
    (tmp_path / "tick.yaml").write_text("steps:\n  - {action: Increment, name: ticks}\n")
    ctx = BotContext(None, None, RoutineRegistry.load(tmp_path), Controller(), {"ticks": "0"})

    @flow(persist_result=False)
    async def many_steps() -> tuple[int, int, list[str]]:
        run = RoutineRun(ctx.registry.get("tick"), ctx)
        run.start()
        names = []
        for i in range(STEPS):
            state = await call_step(run, 0, f"tick {i}")
            names.append(state.type.value)
        run.close()
        context = FlowRunContext.get()
        assert context is not None
        return len(context.task_run_assets), len(context.run_results), names

    assets, results, states = asyncio.run(many_steps())
    assert states == ["COMPLETED"] * STEPS and ctx.variables.get("ticks") == str(STEPS)
    assert (assets, results) == (0, 0)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_step_error_the_bot_handles_is_one_warning_line_not_an_error_traceback(
        prefect_server: PrefectServer, tmp_path: Path) -> None:
    """Issue 23 item 9: Prefect logged each failed step (an error the bot's recovery handles) twice at ERROR, once
    with the full traceback. The step's run still ends Failed and the bot still gets the error."""
    (tmp_path / "click.yaml").write_text("steps:\n  - {action: Click, x: 1, y: 1}\n")  # no template set: refused
    ctx = BotContext(None, None, RoutineRegistry.load(tmp_path), Controller(), {})

    @flow(persist_result=False)
    async def failing_step() -> tuple[str, StepOutcome]:
        run = RoutineRun(ctx.registry.get("click"), ctx)
        run.start()
        try:
            state = await call_step(run, 0, "click once")
            return state.type.value, await TaskSteps(0, None)(run, 0, "click again")
        finally:
            run.close()

    logger = logging.getLogger("prefect.task_runs")
    seen = _Records()
    logger.addHandler(seen)
    try:
        state, outcome = asyncio.run(failing_step())
    finally:
        logger.removeHandler(seen)
    assert state == "FAILED" and outcome.kind is Outcome.FAILED and isinstance(outcome.error, RoutineError)
    failed = [r for r in seen.records if "failed" in r.getMessage().lower() or "Failed(" in r.getMessage()]
    assert len(failed) == 4, [r.getMessage() for r in seen.records]  # two lines per failed step
    assert {r.levelname for r in failed} == {"WARNING"}
    assert all(r.exc_info is None for r in seen.records)
    assert "no template set" in failed[0].getMessage()
