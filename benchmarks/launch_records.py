"""What the Prefect server recorded of one ``launch-group`` run, for ``benchmarks/orchestration.py``.

Every time is in seconds after the launch run's ``start_time`` (server timestamps; on one machine every process
shares the clock, and on real hosts NTP keeps them within milliseconds).

* :func:`read_launch`: the launch's bot runs (``created``, ``start_time`` = *Running*, first step task's
  ``start_time``, ``end_time``) and when its last launch phase task ended;
* :func:`finished_clocks`: the clocks each bot's ``bot.finished`` event carries (``steps_done``, ``wall_s``,
  ``step_s``, ``engine_s``): a bot on another host returns its final ``BotStatus`` only in its own process;
* :class:`BotClocks` and the measures over them: :func:`engine_ms` (the baseline), :func:`overhead_ms` (per step
  task), :func:`prefect_share`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

__all__ = ["BotClocks", "BotRecord", "LaunchRecords", "engine_ms", "finished_clocks", "overhead_ms", "prefect_share",
           "read_launch", "spread"]

_DAY = timedelta(days=1)
_NAN = float("nan")


@dataclass(frozen=True)
class BotRecord:
    """One bot run of a launch: its flow run name and id, whether it ran from the ``run-bot`` deployment (on a
    worker), and its times (``nan`` when the server has none): ``created``, *Pending* (a deployed run: its worker
    picked it up and is starting its process), *Running*, its first step's start, its end; and the recoveries and
    restarts its last status labels count."""

    name: str
    run_id: UUID
    deployed: bool
    created_s: float
    pending_s: float
    running_s: float
    first_step_s: float
    end_s: float
    recoveries: int = 0
    restarts: int = 0

    @property
    def outer_s(self) -> float:
        """The run's wall time as the server saw it: ``created`` → ``end_time``."""
        return self.end_s - self.created_s


@dataclass(frozen=True)
class LaunchRecords:
    """The bot runs of a launch by flow run name, and when its last phase task (pools, routine, instances) ended."""

    bots: dict[str, BotRecord]
    phases_end_s: float


@dataclass(frozen=True)
class BotClocks:
    """One bot's clocks in seconds: ``steps`` completed, the session's ``wall_s``, ``step_s`` around its step task
    calls and ``engine_s`` inside the engine during them (measured by the bot), and ``outer_s``, its run's
    ``created`` → ``end_time`` on the server (the session's wall time when the server has none)."""

    steps: int
    wall_s: float
    step_s: float
    engine_s: float
    outer_s: float

    @classmethod
    def of(cls, steps: int, wall_s: float, step_s: float, engine_s: float, record: BotRecord | None) -> BotClocks:
        outer = record.outer_s if record is not None and record.outer_s == record.outer_s else wall_s
        return cls(steps, wall_s, step_s, engine_s, outer)

    @classmethod
    def of_finished(cls, payload: dict[str, Any], record: BotRecord | None) -> BotClocks:
        """From a ``bot.finished`` payload (:func:`finished_clocks`)."""
        return cls.of(int(payload["steps_done"]), float(payload["wall_s"]), float(payload["step_s"]),
                      float(payload["engine_s"]), record)


def engine_ms(clocks: list[BotClocks]) -> float:
    """Milliseconds per step inside the engine (the baseline)."""
    return sum(c.engine_s for c in clocks) / (sum(c.steps for c in clocks) or 1) * 1000


def overhead_ms(clocks: list[BotClocks]) -> float:
    """Milliseconds per step around the engine: what wrapping a step in a Prefect task costs."""
    return sum(c.step_s - c.engine_s for c in clocks) / (sum(c.steps for c in clocks) or 1) * 1000


def prefect_share(clocks: list[BotClocks]) -> float:
    """The bots' run creation/finalisation (``outer_s`` − ``wall_s``) plus step task overhead, over ``outer_s``."""
    flow = sum(max(0.0, c.outer_s - c.wall_s) for c in clocks)
    return (flow + sum(c.step_s - c.engine_s for c in clocks)) / (sum(c.outer_s for c in clocks) or 1.0)


def spread(values: Iterable[float]) -> tuple[float, float]:
    """(first, last) of ``values`` without ``nan``s; ``(nan, nan)`` when none."""
    known = sorted(v for v in values if v == v)
    return (known[0], known[-1]) if known else (_NAN, _NAN)


async def _task_runs(client: Any, flows: Any, tasks: Any) -> list[Any]:
    """Every task run matching the filters (the API pages by 200)."""
    from prefect.client.schemas.sorting import TaskRunSort

    out: list[Any] = []
    while True:
        page = await client.read_task_runs(flow_run_filter=flows, task_run_filter=tasks, limit=200, offset=len(out),
                                           sort=TaskRunSort.ID_DESC)
        out.extend(page)
        if len(page) < 200:
            return out


async def read_launch(launch_run_id: UUID, bots: int) -> LaunchRecords:
    """The records of launch run ``launch_run_id`` with ``bots`` bots, waiting up to 10 s for every bot's first
    step (the server records task runs from their events, a little behind)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterName,
    )
    from prefect.client.schemas.objects import StateType

    from adapters.registry import bot_status

    async with get_client() as client:
        launch = await client.read_flow_run(launch_run_id)
        assert launch.start_time is not None
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[launch_run_id])),
            limit=200)
        phases = await _task_runs(client, FlowRunFilter(id=FlowRunFilterId(any_=[launch_run_id])), None)
        for _ in range(20):
            steps = await _task_runs(client, FlowRunFilter(id=FlowRunFilterId(any_=[r.id for r in runs])),
                                     TaskRunFilter(name=TaskRunFilterName(like_=" step 0:")))
            if len({t.flow_run_id for t in steps if t.start_time is not None}) >= bots:
                break
            await asyncio.sleep(0.5)
        pending = {r.id: min((t.timestamp for t in await client.read_flow_run_states(r.id)
                              if t.type == StateType.PENDING), default=None) for r in runs if r.deployment_id}

    def after(t: datetime | None) -> float:
        return (t - launch.start_time).total_seconds() if t is not None else _NAN

    first: dict[UUID, datetime] = {}
    for step in steps:
        if step.start_time is not None and step.start_time < first.get(step.flow_run_id, step.start_time + _DAY):
            first[step.flow_run_id] = step.start_time
    statuses = {r.id: bot_status(r) for r in runs}
    records = {r.name: BotRecord(r.name, r.id, r.deployment_id is not None, after(r.created), after(pending.get(r.id)),
                                 after(r.start_time), after(first.get(r.id)), after(r.end_time),
                                 *((s.recoveries, s.restarts) if (s := statuses[r.id]) is not None else (0, 0)))
               for r in runs}
    subflows = {r.parent_task_run_id for r in runs}  # a bot's task run in the launch (ends with the bot), not a phase
    phase_ends = [after(t.end_time) for t in phases
                  if t.end_time and t.id not in subflows and not t.name.startswith(("run-bot", "stop-"))]
    return LaunchRecords(records, max(phase_ends, default=_NAN))


async def finished_clocks(run_ids: Iterable[UUID], within_s: float) -> dict[UUID, dict[str, Any]]:
    """The ``bot.finished`` payload of each of ``run_ids`` (emitted in the last ``within_s`` seconds), waiting up
    to 15 s for late ones (a bot process's events reach the server from its events worker, a little behind)."""
    from prefect.client.orchestration import get_client

    from adapters.events import latest_events

    wanted = list(run_ids)
    async with get_client() as client:
        for _ in range(30):
            found = await latest_events(client, "bot.finished", wanted, within_s=within_s)
            if len(found) == len(wanted):
                break
            await asyncio.sleep(0.5)
    return {run_id: dict(event.payload) for run_id, event in found.items()}
