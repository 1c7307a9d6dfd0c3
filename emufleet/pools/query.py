"""Reading accounts for people: a sorted, paginated search, counts by state, live leases, an account's history.

The fleet console's accounts tables (digest §12 "Account Pools" accounts table and the Accounts view) call these;
every query is one indexed SQL statement with ``LIMIT``/``OFFSET``, so a page costs the same at 100 or 10,000+
accounts. Sort columns come from the pools' column whitelist (:data:`emufleet.pools.filters.COLUMNS`), never from
free text.

*Effective state* is what a person means by an account's status: ``in_use`` while a lease is held and not expired,
``available`` for an expired lease (anyone may reclaim it), otherwise ``pool_status``
(:func:`emufleet.pools.leases.effective_state`, the one definition beside the lease rules).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Engine, func, or_, select

from emufleet.db import Account, AccountResultRecord, PoolMember, RoutineExecution, utcnow
from emufleet.errors import PoolValidationError
from emufleet.pools.filters import column_for
from emufleet.pools.leases import effective_state, lease_held

__all__ = ["AccountHistory", "AccountPage", "AccountRow", "LeaseRow", "account_history", "count_by_state",
           "held_leases", "search_accounts"]

PAGE_LIMIT_MAX = 500
#: The largest page offset: SQLite's and PostgreSQL's OFFSET is a signed 64-bit integer.
PAGE_OFFSET_MAX = 2**63 - 1
"""Largest page :func:`search_accounts` returns (a bigger ``limit`` is clamped)."""


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One account as a table shows it; ``state`` is the effective state (module docstring)."""

    id: int
    device_account: str
    username: str | None
    state: str
    pool_status: str
    packs_opened: int
    shinedust: int
    failure_count: int
    last_error: str | None
    last_used_at: datetime | None
    lease_owner: str | None
    lease_instance: str | None
    leased_at: datetime | None


@dataclass(frozen=True, slots=True)
class AccountPage:
    """A page of :func:`search_accounts`: rows, the total matching, and the request that produced it."""

    rows: list[AccountRow]
    total: int
    offset: int
    limit: int
    sort: str
    descending: bool


@dataclass(frozen=True, slots=True)
class LeaseRow:
    """A lease held right now (not expired): which account, by whom, on which instance, since and until when."""

    account_id: int
    device_account: str
    owner: str | None
    instance: str | None
    leased_at: datetime | None
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class AccountHistory:
    """An account's routine executions and reported results (newest first) and the pools it is a member of."""

    executions: list[RoutineExecution]
    results: list[AccountResultRecord]
    pools: list[str]


def search_accounts(eng: Engine, *, text: str | None = None, state: str | None = None, pool: str | None = None,
                    sort: str = "id", descending: bool = False, offset: int = 0, limit: int = 50) -> AccountPage:
    """A page of accounts, filtered and sorted in SQL.

    Args:
        text: case-insensitive substring of ``device_account``, ``username`` or ``friend_code``.
        state: an effective state (``available``, ``in_use``, ``completed``, ``failed``, ``skipped``).
        pool: only members of this pool (as of its last refresh).
        sort: a whitelisted column (``emufleet.pools.COLUMNS``, seed aliases accepted); ties broken by id.
        offset, limit: the page (``limit`` clamped to 1..500, ``offset`` to 0..:data:`PAGE_OFFSET_MAX`).

    Raises:
        PoolValidationError: ``sort`` is not a whitelisted column (``field`` ``sort``).
    """
    try:
        real, column, _ = column_for(sort)
    except ValueError as exc:  # the filters' messages, located here (they are for pool files too)
        raise PoolValidationError(str(exc), field="sort") from exc
    now = utcnow()
    state_expr = effective_state(now)
    where: list[ColumnElement[bool]] = []
    if text:
        # `_` and `%` are LIKE wildcards: escaped, a search for them finds them literally
        needle = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        like = f"%{needle}%"
        where.append(or_(*(func.lower(column).like(like, escape="\\")
                           for column in (Account.device_account, Account.username, Account.friend_code))))
    if state:
        where.append(state_expr == state)
    base = select(Account.id)
    if pool is not None:
        base = base.join(PoolMember, PoolMember.account_id == Account.id).where(PoolMember.pool_name == pool)
    base = base.where(*where)
    limit = max(1, min(int(limit), PAGE_LIMIT_MAX))
    offset = max(0, min(int(offset), PAGE_OFFSET_MAX))
    order = column.desc() if descending else column.asc()
    tiebreak = Account.id.desc() if descending else Account.id.asc()
    stmt = select(Account.id, Account.device_account, Account.username, state_expr, Account.pool_status,
                  Account.packs_opened, Account.shinedust, Account.failure_count, Account.last_error,
                  Account.last_used_at, Account.lease_owner, Account.lease_instance, Account.leased_at,
                  lease_held(now).label("held"))
    if pool is not None:
        stmt = stmt.join(PoolMember, PoolMember.account_id == Account.id).where(PoolMember.pool_name == pool)
    stmt = stmt.where(*where).order_by(order, tiebreak).offset(offset).limit(limit)
    with eng.connect() as conn:
        total = conn.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = [_row(r) for r in conn.execute(stmt)]
    return AccountPage(rows, int(total), offset, limit, real, descending)


def _row(r: Any) -> AccountRow:  # Any: a search-select Row, read by label (typed by position)
    held = bool(r.held)
    return AccountRow(r.id, r.device_account, r.username, r[3], r.pool_status, r.packs_opened, r.shinedust,
                      r.failure_count, r.last_error, r.last_used_at, r.lease_owner if held else None,
                      r.lease_instance if held else None, r.leased_at if held else None)


def count_by_state(eng: Engine, *, pool: str | None = None) -> dict[str, int]:
    """Accounts per effective state (every state of ``emufleet.db.POOL_STATUSES`` present, 0 when none)."""
    from emufleet.db import POOL_STATUSES

    now = utcnow()
    state = effective_state(now)
    stmt = select(state, func.count()).group_by(state)
    if pool is not None:
        stmt = stmt.join(PoolMember, PoolMember.account_id == Account.id).where(PoolMember.pool_name == pool)
    counts = dict.fromkeys(POOL_STATUSES, 0)
    with eng.connect() as conn:
        for name, n in conn.execute(stmt.select_from(Account)):
            counts[name] = counts.get(name, 0) + int(n)
    return counts


def held_leases(eng: Engine) -> list[LeaseRow]:
    """Every lease held now (expired ones are reclaimable and not listed), oldest first."""
    now = utcnow()
    stmt = (select(Account.id, Account.device_account, Account.lease_owner, Account.lease_instance,
                   Account.leased_at, Account.lease_expires_at).where(lease_held(now)).order_by(Account.leased_at))
    with eng.connect() as conn:
        # ``lease_held`` only passes rows whose expiry is set: the column is nullable, the value here is not
        return [LeaseRow(i, name, owner, instance, at, cast(datetime, expires))
                for i, name, owner, instance, at, expires in conn.execute(stmt)]


def account_history(eng: Engine, account_id: int, *, limit: int = 100) -> AccountHistory:
    """The newest ``limit`` routine executions and results of one account, and its pools (sorted)."""
    from emufleet.db import session

    with session(eng) as s:
        executions = list(s.scalars(select(RoutineExecution).where(RoutineExecution.account_id == account_id)
                                    .order_by(RoutineExecution.started_at.desc(), RoutineExecution.id.desc())
                                    .limit(limit)))
        results = list(s.scalars(select(AccountResultRecord).where(AccountResultRecord.account_id == account_id)
                                 .order_by(AccountResultRecord.recorded_at.desc(), AccountResultRecord.id.desc())
                                 .limit(limit)))
        pools = sorted(s.scalars(select(PoolMember.pool_name).where(PoolMember.account_id == account_id)))
    return AccountHistory(executions, results, pools)
