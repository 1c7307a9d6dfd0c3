"""Routine-execution rows left ``started`` by a launch that ended without finishing them (its process was killed,
its host lost power): found by the launch's orchestration id and closed as ``lost`` (``adapters.ended``)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Engine, select, update

from emufleet.db import RoutineExecution, translate_db_errors, utcnow

__all__ = ["ABANDONED", "close_abandoned", "started_orchestrations"]

ABANDONED = "its launch ended without recording a result (the launch process stopped)"


@translate_db_errors("read started routine executions")
def started_orchestrations(engine: Engine) -> list[str]:
    """The orchestration (launch) ids with routine executions still ``started``."""
    with engine.connect() as conn:
        rows = conn.execute(select(RoutineExecution.orchestration_id).where(
            RoutineExecution.execution_status == "started", RoutineExecution.orchestration_id.is_not(None))
            .distinct())
        return [row[0] for row in rows if row[0] is not None]


@translate_db_errors("close abandoned routine executions")
def close_abandoned(engine: Engine, orchestration_ids: Collection[str]) -> int:
    """Mark the ``started`` executions of the ended launches ``orchestration_ids`` ``lost`` (with
    :data:`ABANDONED` as their error); returns how many."""
    if not orchestration_ids:
        return 0
    with engine.begin() as conn:
        return int(conn.execute(update(RoutineExecution).where(
            RoutineExecution.orchestration_id.in_(list(orchestration_ids)),
            RoutineExecution.execution_status == "started").values(
            execution_status="lost", completed_at=utcnow(), error_message=ABANDONED)).rowcount)
