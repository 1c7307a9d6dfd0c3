"""A launch's ``max_accounts`` budget: one row of ``launch_budgets`` in the shared accounts database (digest §9.9).

The seed only logged ``MaxAccounts``; an in-memory counter would hold only within one process, and a launch's bots
run in several (in-process subflows on the launching host, ``run-bot`` runs on other hosts' workers). So every bot
of a launch takes from one row, found by the launch's orchestration id (its flow run id, the owner of its account
leases), in the database all hosts already share. Taking is one conditional statement, no read before it::

    UPDATE launch_budgets SET taken = taken + 1
    WHERE launch_id = :id AND (max_accounts IS NULL OR taken < max_accounts)      -- rowcount 1: taken, 0: not

SQLite runs it under its single write lock (it is the transaction's first statement, so the lock is taken before
the row is read); PostgreSQL locks the row and, when a concurrent taker committed first, re-evaluates the ``WHERE``
on the newest row version (READ COMMITTED). Either way no number of takers, threads or hosts passes the limit.
Giving back is the matching decrement, never below 0.

Life of a row: the launch creates it before its bots start (:meth:`AccountBudget.create`; ``max_accounts`` NULL
for an unlimited launch, whose count is kept all the same) and deletes it when it ends (:meth:`AccountBudget.delete`);
rows of launches whose process died are pruned by later launches (:func:`list_budgets`, :func:`delete_budgets`;
``adapters.budgets``). A bot whose launch's row is gone takes nothing more (:meth:`AccountBudget.take` is false).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import BindParameter, Engine, String, Table, bindparam, delete, insert, or_, select, update

from emufleet.db import LaunchBudget, translate_db_errors, utcnow

__all__ = ["AccountBudget", "BudgetState", "delete_budgets", "list_budgets"]

_T = cast(Table, LaunchBudget.__table__)
_ID: BindParameter[str] = bindparam("b_id", type_=String())
_TAKE = update(_T).where(_T.c.launch_id == _ID, or_(_T.c.max_accounts.is_(None), _T.c.taken < _T.c.max_accounts)
                         ).values(taken=_T.c.taken + 1)
_GIVE_BACK = update(_T).where(_T.c.launch_id == _ID, _T.c.taken > 0).values(taken=_T.c.taken - 1)
_READ = select(_T.c.launch_id, _T.c.max_accounts, _T.c.taken, _T.c.created_at)


@dataclass(frozen=True, slots=True)
class BudgetState:
    """A budget row as read: ``max_accounts`` ``None`` means unlimited; ``created_at`` is naive UTC."""

    launch_id: str
    max_accounts: int | None
    taken: int
    created_at: datetime


class AccountBudget:
    """How many accounts the launch ``launch_id`` may still lease, shared by all its bots on every host.

    Thread-safe and process-safe: every call is one statement of its own transaction on ``engine``. A bot run
    without a launch has no budget at all (``BotAccounts(budget=None)``: unlimited).
    """

    def __init__(self, engine: Engine, launch_id: str) -> None:
        self.engine = engine
        self.launch_id = launch_id

    @classmethod
    @translate_db_errors("create the launch's account budget")
    def create(cls, engine: Engine, launch_id: str, max_accounts: int | None) -> AccountBudget:
        """Create (or reset, for a launch run again under the same id) the row of ``launch_id``: nothing taken,
        at most ``max_accounts`` (``None``: unlimited). The schema must be migrated (``db.upgrade``).

        Raises:
            ValueError: ``max_accounts`` below 0.
            DatabaseError: the database cannot be reached or lacks the table.
        """
        if max_accounts is not None and max_accounts < 0:
            raise ValueError(f"max_accounts must be ≥ 0, not {max_accounts}")
        with engine.begin() as conn:
            conn.execute(delete(_T).where(_T.c.launch_id == launch_id))
            conn.execute(insert(_T).values(launch_id=launch_id, max_accounts=max_accounts, taken=0,
                                           created_at=utcnow()))
        return cls(engine, launch_id)

    @translate_db_errors("take from the launch's account budget")
    def take(self) -> bool:
        """Take one account from the budget: true when taken; false when it is spent or its launch's row is gone.

        Raises:
            DatabaseError: the database cannot be reached.
        """
        with self.engine.begin() as conn:
            return conn.execute(_TAKE, {"b_id": self.launch_id}).rowcount == 1

    @translate_db_errors("give back to the launch's account budget")
    def give_back(self) -> None:
        """Return one taken account (a lease that processed nothing); never below 0, nothing when the row is gone.

        Raises:
            DatabaseError: the database cannot be reached.
        """
        with self.engine.begin() as conn:
            conn.execute(_GIVE_BACK, {"b_id": self.launch_id})

    @translate_db_errors("read the launch's account budget")
    def state(self) -> BudgetState | None:
        """The row as it is now, ``None`` when it is gone (the launch ended, or never created it)."""
        with self.engine.connect() as conn:
            row = conn.execute(_READ.where(_T.c.launch_id == self.launch_id)).one_or_none()
        return BudgetState(*row) if row is not None else None

    def spent_reason(self) -> str:
        """Why :meth:`take` said no, in words for the bot's error (reads the row once)."""
        now = self.state()
        if now is None:
            return f"the launch's account budget is gone (launch {self.launch_id} ended)"
        return f"the launch's max_accounts ({now.max_accounts}) is reached"

    def delete(self) -> None:
        """Delete the row (the launch ended); its bots' later :meth:`take` calls are false."""
        delete_budgets(self.engine, [self.launch_id])

    def __repr__(self) -> str:
        return f"AccountBudget({self.launch_id!r})"


@translate_db_errors("list the launches' account budgets")
def list_budgets(engine: Engine) -> list[BudgetState]:
    """Every budget row, oldest first."""
    with engine.connect() as conn:
        return [BudgetState(*row) for row in conn.execute(_READ.order_by(_T.c.created_at, _T.c.launch_id))]


@translate_db_errors("delete launches' account budgets")
def delete_budgets(engine: Engine, launch_ids: Collection[str]) -> int:
    """Delete the rows of ``launch_ids`` (ended launches); returns how many there were."""
    if not launch_ids:
        return 0
    with engine.begin() as conn:
        return conn.execute(delete(_T).where(_T.c.launch_id.in_(list(launch_ids)))).rowcount
