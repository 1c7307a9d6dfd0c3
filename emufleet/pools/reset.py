"""Putting accounts back into play: ``pool_status`` ``available``, no failures, no error, not completed.

What a seed user did by editing the database by hand after a run (or by deleting it, as ``make demo`` used to):
``emufleet accounts reset --pool demo`` makes the accounts of a finished run leasable again. Counters the routines
keep (``packs_opened``, ``shinedust`` …) and the result history (``account_results``, ``routine_executions``) are
left alone: a reset changes pool state, not what happened.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Engine, String, cast, or_, select, update

from emufleet.db import POOL_STATUSES, Account, AccountResultRecord, PoolMember, PoolRecord, Quarantine, utcnow
from emufleet.errors import InputError, PoolError
from emufleet.pools.leases import CLEAR_LEASE, lease_held

__all__ = ["ResetReport", "reset_accounts"]


@dataclass(frozen=True, slots=True)
class ResetReport:
    """What :func:`reset_accounts` did: accounts reset, and the selected ones skipped because a bot leases them."""

    reset: int
    leased: int = 0


def _is_id(key: str | int) -> bool:
    text = str(key)
    return text.isascii() and text.isdigit() and 0 < int(text) < 2**63


def reset_accounts(engine: Engine, *, pool: str | None = None, status: str | None = None,
                   accounts: Sequence[str | int] = (), include_leased: bool = False,
                   everything: bool = False) -> ResetReport:
    """Reset the selected accounts to ``available`` (``failure_count`` 0, ``last_error`` and ``completed_at``
    cleared, an expired lease removed, an account quarantine released), in one transaction.

    Selectors combine with AND: ``pool`` (its members at the last refresh, plus every account whose result was
    recorded in it), ``status`` (a ``pool_status``), ``accounts`` (ids or ``device_account`` names). At least one
    is required unless ``everything``. Accounts a bot leases right now are skipped (counted in ``leased``) unless
    ``include_leased``, which also ends their lease: that bot's next heartbeat gets ``LeaseError``.

    Raises:
        InputError: no selector, an unknown ``status``, or names/ids not in the database (all listed).
        PoolError: ``pool`` has never been refreshed, so nothing is known of its accounts.
    """
    where: list[ColumnElement[bool]] = []
    if status is not None:
        if status not in POOL_STATUSES:
            raise InputError(f"status must be one of {', '.join(POOL_STATUSES)}; got {status!r}", field="status")
        where.append(Account.pool_status == status)
    if not (pool or status or accounts or everything):
        raise InputError("say which accounts to reset: a pool, a status or account names (or everything)",
                         field="accounts")
    now = utcnow()
    with engine.begin() as conn:
        if accounts:
            # an id is 1..2**63-1 in ASCII digits; anything else ("²", an id beyond 64 bits) is looked up as a name
            ids = [int(a) for a in accounts if _is_id(a)]
            names = [str(a) for a in accounts if not _is_id(a)]
            found = conn.execute(select(Account.id, Account.device_account)
                                 .where(or_(Account.id.in_(ids), Account.device_account.in_(names)))).all()
            missing = sorted({*map(str, ids), *names} - {str(r.id) for r in found} - {r.device_account
                                                                                     for r in found})
            if missing:
                raise InputError(f"no such account(s): {', '.join(missing)}", field="accounts")
            where.append(Account.id.in_([r.id for r in found]))
        if pool:
            if conn.scalar(select(PoolRecord.name).where(PoolRecord.name == pool)) is None:
                raise PoolError("the pool has never been refreshed: nothing is known of its accounts", pool=pool)
            where.append(or_(
                Account.id.in_(select(PoolMember.account_id).where(PoolMember.pool_name == pool)),
                Account.id.in_(select(AccountResultRecord.account_id).where(AccountResultRecord.pool_name == pool))))
        live = lease_held(now)
        leased = 0 if include_leased else len(conn.execute(select(Account.id).where(*where, live)).all())
        targets = where if include_leased else [*where, ~live]
        # an account the farm quarantined (failed on several instances, docs/farm.md) is back in play too
        conn.execute(update(Quarantine).where(
            Quarantine.kind == "account", Quarantine.released_at.is_(None),
            Quarantine.subject.in_(select(cast(Account.id, String)).where(*targets))).values(
            released_at=now, released_by="accounts reset"))
        count = conn.execute(update(Account).where(*targets).values(
            **CLEAR_LEASE, pool_status="available", failure_count=0, last_error=None, completed_at=None)).rowcount
    return ResetReport(count, leased)
