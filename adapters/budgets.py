"""A launch's ``max_accounts`` budget (:mod:`emufleet.pools.budget`), from the launch's side.

The launch creates its row in the shared accounts database before any bot starts (:func:`open_budget`), and when
it ends deletes it and prunes the rows of launches that ended without deleting theirs — a launch process killed
with ``kill -9``, a host that lost power (:func:`close_budget`). Which launches ended is the Prefect server's
knowledge, hence this module: a row goes when the server has its flow run in a final state, or, for a run the
server does not know (another server, a reset database), when the row is older than :data:`PRUNE_UNKNOWN_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import logging
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from sqlalchemy import Engine

from emufleet import db
from emufleet.pools.budget import AccountBudget, BudgetState, delete_budgets, list_budgets

__all__ = ["PRUNE_BATCH", "PRUNE_UNKNOWN_AFTER_S", "close_budget", "open_budget", "prune_budgets"]

PRUNE_UNKNOWN_AFTER_S = 7 * 86_400.0
"""Age (seconds) after which the row of a launch the Prefect server does not know is pruned."""
PRUNE_BATCH = 200  # rows looked at per prune, oldest first (one flow-run read; the API's default page size)
_log = logging.getLogger(__name__)


async def open_budget(launch_run_id: UUID, max_accounts: int | None, database_url: str | None = None
                      ) -> AccountBudget:
    """Create the launch's budget row (``max_accounts`` ``None``: unlimited, counted all the same) on a new engine
    for ``database_url`` (default: the shared accounts database), which must exist (an older schema is migrated).

    Raises:
        DatabaseError: the database cannot be reached or migrated.
    """

    def make() -> AccountBudget:
        eng = db.engine(database_url)
        try:
            db.require_schema(eng)
            return AccountBudget.create(eng, str(launch_run_id), max_accounts)
        except BaseException:
            eng.dispose()
            raise

    return await asyncio.to_thread(make)


async def close_budget(client: PrefectClient, budget: AccountBudget) -> None:
    """Delete the launch's row, prune the rows of ended launches, dispose of the engine. Never raises: the launch
    has ended either way (a failure is logged; a row left behind is pruned by a later launch)."""
    try:
        await asyncio.to_thread(budget.delete)
        pruned = await prune_budgets(client, budget.engine)
        if pruned:
            _log.info("pruned the account budgets of %d ended launches", len(pruned))
    except Exception as exc:  # noqa: BLE001 - clean-up after the launch: say so, never fail the launch for it
        _log.warning("account budget clean-up failed: %s", exc)
    finally:
        budget.engine.dispose()


async def prune_budgets(client: PrefectClient, eng: Engine) -> list[str]:
    """Delete the budget rows of ended launches (see the module docstring); returns their launch ids."""
    rows = (await asyncio.to_thread(list_budgets, eng))[:PRUNE_BATCH]
    if not rows:
        return []
    ids = {row.launch_id: run_id for row in rows if (run_id := _uuid(row.launch_id)) is not None}
    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=list(ids.values()))),
                                       limit=len(ids)) if ids else []
    known = {str(run.id): run for run in runs}
    now = db.utcnow()

    def ended(row: BudgetState) -> bool:
        run = known.get(row.launch_id)
        if run is None:
            return (now - row.created_at).total_seconds() > PRUNE_UNKNOWN_AFTER_S
        return run.state is not None and run.state.is_final()

    stale = [row.launch_id for row in rows if ended(row)]
    await asyncio.to_thread(delete_budgets, eng, stale)
    return stale


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
