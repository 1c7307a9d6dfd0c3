"""Account leases: one atomic compare-and-set ``UPDATE`` per transition, the same SQL on SQLite and PostgreSQL.

Replaces the seed's checkout (digest §5.6, defects §11.2 items 5 and 7): there is no Python-side lock and no
in-memory queue. An account is *leasable* when its ``pool_status`` is ``available`` (or ``in_use``) **and** it has
no lease or its lease expired. Taking a lease is a single statement::

    UPDATE accounts SET lease_owner=…, lease_token=<new uuid>, lease_expires_at=now+ttl, pool_status='in_use'
    WHERE id = (SELECT id FROM accounts … leasable … ORDER BY … LIMIT 1 [FOR UPDATE SKIP LOCKED])
      AND <leasable>                                   -- re-checked on the row itself: the compare-and-set
    RETURNING id, device_account, device_password

SQLite serialises writers (WAL + busy timeout), so the re-check sees every committed lease; PostgreSQL re-evaluates
the outer ``WHERE`` on the current row version after waiting for a concurrent writer, and ``SKIP LOCKED`` (ignored
by SQLite's compiler) spreads concurrent takers over different rows. Every later transition (heartbeat, release,
complete, fail) is ``UPDATE … WHERE id = ? AND lease_token = ?``: only the owner of *this* lease can make it, and a
lease that expired and was reclaimed by someone else is gone for good (``LeaseError``).

Times are naive UTC computed by the caller (:func:`emufleet.db.utcnow`); TTLs and durations are seconds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, Engine, and_, case, insert, or_, select, update

from emufleet.db import Account, AccountResultRecord, utcnow
from emufleet.errors import LeaseError
from emufleet.routines.accounts import AccountResult

__all__ = ["DEFAULT_TTL_S", "Lease", "LeaseOwner", "Outcome", "acquire", "finish", "heartbeat", "leasable",
           "release_all"]

DEFAULT_TTL_S = 300.0
"""Default lease time-to-live (seconds); a holder heartbeats well within it (see ``HeartbeatThread``)."""

Outcome = Literal["completed", "failed", "returned"]
_ATTEMPTS = 8  # PostgreSQL only: retries when a concurrent taker won the row between the pick and the update


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """Who holds a lease: the flow run (or orchestration) id and the instance (serial or index) within it."""

    run_id: str
    instance: str = ""

    def __str__(self) -> str:
        return f"{self.run_id}/{self.instance}" if self.instance else self.run_id


@dataclass(frozen=True, slots=True)
class Lease:
    """A lease on one account, as taken or last renewed. ``token`` names this lease and no other."""

    account_id: int
    device_account: str
    device_password: str
    owner: LeaseOwner
    token: str
    leased_at: datetime
    expires_at: datetime
    pool: str | None = None


def leasable(now: datetime) -> ColumnElement[bool]:
    """SQL condition: the account may be leased at ``now`` (free, or its lease expired)."""
    return and_(
        Account.pool_status.in_(("available", "in_use")),
        or_(Account.lease_token.is_(None), Account.lease_expires_at < now),
    )


def acquire(
    eng: Engine,
    owner: LeaseOwner,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    where: Iterable[ColumnElement[bool]] = (),
    order_by: Sequence[ColumnElement[object]] = (),
    joins: Sequence[tuple[object, ColumnElement[bool]]] = (),
    pool: str | None = None,
) -> Lease | None:
    """Lease the first leasable account matching ``where`` (in ``order_by`` order), or ``None`` if there is none.

    ``joins`` are ``(table, on)`` pairs added to the candidate query (pool membership). Never blocks on other
    holders; waiting is the pool's job. Raises SQLAlchemy errors only for database failures.
    """
    if ttl_s <= 0:
        raise ValueError(f"ttl_s must be positive, got {ttl_s}")
    where = tuple(where)
    for _ in range(_ATTEMPTS):
        now = utcnow()
        pick = select(Account.id)
        for table, on in joins:
            pick = pick.join(table, on)  # type: ignore[arg-type]
        pick = (
            pick.where(leasable(now), *where)
            .order_by(*order_by, Account.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=Account)
            .scalar_subquery()
        )
        token = str(uuid.uuid4())
        expires = now + timedelta(seconds=ttl_s)
        stmt = (
            update(Account)
            .where(Account.id == pick, leasable(now))
            .values(
                lease_owner=owner.run_id, lease_instance=owner.instance, lease_token=token, leased_at=now,
                lease_expires_at=expires, heartbeat_at=now, pool_status="in_use", last_used_at=now,
            )
            .returning(Account.id, Account.device_account, Account.device_password)
        )
        with eng.begin() as conn:
            row = conn.execute(stmt).first()
            if row is None and conn.execute(select(pick.label("id"))).scalar() is None:
                return None  # nothing leasable at all (as opposed to a lost race)
        if row is not None:
            return Lease(row.id, row.device_account, row.device_password, owner, token, now, expires, pool)
    return None


def heartbeat(eng: Engine, lease: Lease, *, ttl_s: float = DEFAULT_TTL_S) -> Lease:
    """Extend ``lease`` to now + ``ttl_s``; returns the renewed lease.

    Raises:
        LeaseError: the lease is gone (released, finished, or expired and reclaimed by another owner).
    """
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    with eng.begin() as conn:
        n = conn.execute(
            update(Account)
            .where(Account.id == lease.account_id, Account.lease_token == lease.token)
            .values(lease_expires_at=expires, heartbeat_at=now)
        ).rowcount
    if n != 1:
        raise LeaseError(f"lease held by {lease.owner} is gone (expired and reclaimed, or already released)",
                         pool=lease.pool, account_id=lease.account_id)
    return Lease(lease.account_id, lease.device_account, lease.device_password, lease.owner, lease.token,
                 lease.leased_at, expires, lease.pool)


def finish(
    eng: Engine,
    lease: Lease,
    outcome: Outcome,
    *,
    result: AccountResult | None = None,
    reason: str | None = None,
    retry_failed: bool = False,
    max_failures: int = 3,
) -> str:
    """End ``lease`` with a status transition persisted in the same transaction as its result row.

    * ``completed``: ``pool_status='completed'``, ``completed_at=now``.
    * ``failed``: ``failure_count + 1``, ``last_error=reason``; back to ``available`` when ``retry_failed`` and the
      new count is below ``max_failures``, else ``failed`` (digest §5.5 ``MarkUsed``; unlike the seed, persisted).
    * ``returned``: back to ``available`` untouched (``ReturnAccount``).

    Returns the account's new ``pool_status``. Raises ``LeaseError`` if the caller no longer holds the lease.
    """
    now = utcnow()
    values: dict[str, object] = dict(lease_owner=None, lease_instance=None, lease_token=None, leased_at=None,
                                     lease_expires_at=None, heartbeat_at=None, last_used_at=now)
    if outcome == "completed":
        values.update(pool_status="completed", completed_at=now)
    elif outcome == "failed":
        status: object = (case((Account.failure_count + 1 < max_failures, "available"), else_="failed")
                          if retry_failed else "failed")
        values.update(pool_status=status, failure_count=Account.failure_count + 1, last_error=reason)
    elif outcome == "returned":
        values.update(pool_status="available")
    else:
        raise ValueError(f"unknown outcome {outcome!r}")
    with eng.begin() as conn:
        row = conn.execute(
            update(Account)
            .where(Account.id == lease.account_id, Account.lease_token == lease.token)
            .values(**values)
            .returning(Account.pool_status)
        ).first()
        if row is None:
            raise LeaseError(f"lease held by {lease.owner} is gone (expired and reclaimed, or already released)",
                             pool=lease.pool, account_id=lease.account_id)
        res = result or AccountResult(success=outcome == "completed", error=reason)
        conn.execute(insert(AccountResultRecord).values(
            account_id=lease.account_id, pool_name=lease.pool, outcome=outcome, success=res.success,
            error=res.error if res.error is not None else reason, packs_opened=res.packs_opened,
            cards_found=res.cards_found, stars_total=res.stars_total, keep_count=res.keep_count,
            duration_seconds=(now - lease.leased_at).total_seconds(), lease_owner=lease.owner.run_id,
            lease_instance=lease.owner.instance, recorded_at=now,
        ))
    return str(row.pool_status)


def release_all(eng: Engine, run_id: str) -> int:
    """Return every account leased by flow run ``run_id`` to ``available`` (stopping a group); returns the count."""
    with eng.begin() as conn:
        return conn.execute(
            update(Account)
            .where(Account.lease_owner == run_id, Account.lease_token.is_not(None))
            .values(lease_owner=None, lease_instance=None, lease_token=None, leased_at=None,
                    lease_expires_at=None, heartbeat_at=None, pool_status="available")
        ).rowcount
