"""Step task runs under a long-lived flow run: what Prefect keeps of each one is dropped (a bot runs for hours)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect import flow
from prefect.context import FlowRunContext

from emufleet.routines import BotContext, Controller, RoutineRegistry, RoutineRun
from flows.server import PrefectServer
from tasks.steps import call_step

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
