"""What launches leave in the shared database, cleaned up when they end — and when they die without doing it.

A launch keeps rows in emufleet's database while it runs: its account budget (``launch_budgets``,
:mod:`emufleet.pools.budget`), its command channel (``control_launches`` with its commands and cursors), the
instance claims of its runs (``instance_claims``) and its bots' ``routine_executions``. It makes the first two
before any bot starts (:func:`open_launch`) and removes its own when it ends (:func:`close_launch`). A launch
process killed with ``kill -9``, or a host that lost power, cannot, so every launch also prunes what launches that
*ended* left behind (:func:`prune_ended`). Which launches ended is the Prefect server's knowledge: a run in a final
state (a killed launch's run ends *Crashed* through the zombie automation, :mod:`adapters.automations`), or, for
budget and command rows of a run the server does not know (another server, a reset database), a row older than
:data:`PRUNE_UNKNOWN_AFTER_S`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from adapters.locks import RECENT_S
from emufleet import db
from emufleet.control import ControlPlane
from emufleet.pools.budget import AccountBudget, delete_budgets, list_budgets
from emufleet.pools.executions import close_abandoned, started_orchestrations

__all__ = ["PRUNE_BATCH", "PRUNE_UNKNOWN_AFTER_S", "Pruned", "close_launch", "open_launch", "prune_ended"]

PRUNE_UNKNOWN_AFTER_S = 7 * 86_400.0
"""Age (seconds) after which the budget or command rows of a launch the Prefect server does not know are pruned."""
PRUNE_BATCH = 200  # flow runs asked about per prune (one read; the API's default page size)
_log = logging.getLogger(__name__)


@dataclass
class Pruned:
    """What :func:`prune_ended` removed: launch ids whose budget, command channel or started executions went, and
    flow-run ids whose claims were released."""

    budgets: list[str] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    claims: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.budgets or self.commands or self.claims or self.executions)


async def open_launch(launch_run_id: UUID, *, budget: bool, max_accounts: int | None,
                      database_url: str | None = None) -> tuple[ControlPlane, AccountBudget | None]:
    """Connect to the shared database (``database_url``; default the accounts database), migrate it, open the
    launch's command channel and, when ``budget``, create its budget row (``max_accounts`` ``None``: unlimited,
    counted all the same).

    Raises:
        DatabaseError: the database cannot be reached or migrated.
    """

    def make() -> tuple[ControlPlane, AccountBudget | None]:
        plane = ControlPlane.connect(database_url)
        try:
            plane.commands.open(str(launch_run_id))
            return plane, (AccountBudget.create(plane.engine, str(launch_run_id), max_accounts) if budget else None)
        except BaseException:
            plane.dispose()
            raise

    return await asyncio.to_thread(make)


async def close_launch(client: PrefectClient, plane: ControlPlane, launch_run_id: UUID,
                       budget: AccountBudget | None) -> None:
    """The launch ended: delete its budget row and command channel, release its run's claims, prune what ended
    launches left. Never raises (the launch has ended either way): a failure is logged, and what it left is
    pruned by a later launch."""
    own = str(launch_run_id)
    try:
        if budget is not None:
            await asyncio.to_thread(budget.delete)
        await asyncio.to_thread(plane.commands.close, [own])
        await asyncio.to_thread(plane.claims.release_runs, [own])
        pruned = await prune_ended(client, plane)
        if pruned:
            _log.info("pruned what ended launches left: %s", pruned)
    except Exception as exc:  # noqa: BLE001 - clean-up after the launch: say so, never fail the launch for it
        _log.warning("launch clean-up failed: %s", exc)


async def prune_ended(client: PrefectClient, plane: ControlPlane) -> Pruned:
    """Remove the rows of ended launches (see the module docstring) and release the claims of ended runs;
    drop claims released long ago.

    Raises:
        DatabaseError: the database cannot be reached.
    """
    eng = plane.engine

    def read() -> tuple[dict[str, datetime], dict[str, datetime], list[str], list[str]]:
        budgets = {row.launch_id: row.created_at for row in list_budgets(eng)}
        channels = dict(plane.commands.launches())
        return budgets, channels, plane.claims.claimer_runs(), started_orchestrations(eng)

    budgets, channels, claimers, executions = await asyncio.to_thread(read)
    candidates = list(dict.fromkeys([*budgets, *channels, *claimers, *executions]))[:PRUNE_BATCH]
    ids = [run_id for text in candidates if (run_id := _uuid(text)) is not None]
    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)),
                                       limit=len(ids)) if ids else []
    final = {str(run.id) for run in runs if run.state is not None and run.state.is_final()}
    known = {str(run.id) for run in runs}
    now = db.utcnow()

    def gone(launch_id: str, created_at: datetime) -> bool:
        if launch_id in known:
            return launch_id in final
        return launch_id in candidates and (now - created_at).total_seconds() > PRUNE_UNKNOWN_AFTER_S

    out = Pruned(budgets=[i for i, at in budgets.items() if gone(i, at)],
                 commands=[i for i, at in channels.items() if gone(i, at)],
                 claims=[i for i in claimers if i in final], executions=[i for i in executions if i in final])

    def write() -> None:
        delete_budgets(eng, out.budgets)
        plane.commands.close(out.commands)
        plane.claims.release_runs(out.claims)
        plane.claims.prune(now - timedelta(seconds=max(RECENT_S * 10, 3600.0)))
        close_abandoned(eng, out.executions)

    await asyncio.to_thread(write)
    return out


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
