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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, cast

from sqlalchemy import (
    BindParameter,
    Boolean,
    ColumnElement,
    DateTime,
    Engine,
    FromClause,
    Integer,
    Table,
    and_,
    bindparam,
    case,
    insert,
    or_,
    select,
    update,
)

from emufleet.boundary import SqlOrderTerm
from emufleet.db import Account, AccountResultRecord, translate_db_errors, utcnow
from emufleet.durations import MAX_DURATION_S
from emufleet.errors import LeaseError
from emufleet.outcome import Outcome
from emufleet.routines.accounts import AccountResult

__all__ = ["CLEAR_LEASE", "DEFAULT_TTL_S", "AccountOutcome", "Lease", "LeaseOwner", "Leaser", "acquire",
           "effective_state", "finish", "heartbeat", "leasable", "lease_held", "release_all"]

DEFAULT_TTL_S = 300.0
"""Default lease time-to-live (seconds); a holder heartbeats well within it (see ``HeartbeatThread``)."""

#: What becomes of an account when its lease ends.
AccountOutcome = Literal[Outcome.COMPLETED, Outcome.FAILED, Outcome.RETURNED]
_ATTEMPTS = 8  # PostgreSQL only: retries when a concurrent taker won the row between the pick and the update


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """Who holds a lease: the flow run (or orchestration) id and the instance within it (a bot's ``host/serial``,
    the :attr:`~emufleet.hosts.InstanceId.key` of its instance; a serial or an index elsewhere)."""

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


# Declarative classes type ``__table__`` as a ``FromClause``; ours are plain ``Table``s (insert/update need one).
_T = cast(Table, Account.__table__)
_RESULTS = cast(Table, AccountResultRecord.__table__)
_NOW = bindparam("b_now", type_=DateTime())
#: The lease columns of an account that no one leases.
CLEAR_LEASE = dict(lease_owner=None, lease_instance=None, lease_token=None, leased_at=None, lease_expires_at=None,
                   heartbeat_at=None)


def leasable(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    """SQL condition: the account may be leased at ``now`` (free, or its lease expired)."""
    return and_(
        _T.c.pool_status.in_(("available", "in_use")),
        or_(_T.c.lease_token.is_(None), _T.c.lease_expires_at < now),
    )


def lease_held(now: datetime) -> ColumnElement[bool]:
    """SQL condition: the account's lease is held at ``now`` (taken and not expired; an expired one is reclaimable)."""
    return and_(Account.lease_token.is_not(None), Account.lease_expires_at >= now)


def effective_state(now: datetime) -> ColumnElement[str]:
    """SQL expression: the account's *effective state* at ``now``, what a person means by its status.

    ``in_use`` while its lease is held (:func:`lease_held`), ``available`` when ``pool_status`` says ``available``
    or ``in_use`` but no lease is held (an expired lease: anyone may reclaim it, :func:`leasable`), otherwise its
    ``pool_status`` (``completed``, ``failed``, ``skipped``). The one definition: pool stats, the account search
    and the console's counts all select it.
    """
    return case((lease_held(now), "in_use"), (Account.pool_status.in_(("available", "in_use")), "available"),
                else_=Account.pool_status)


def _held(token_param: str = "b_token") -> ColumnElement[bool]:
    return and_(_T.c.id == bindparam("b_id"), _T.c.lease_token == bindparam(token_param))


# Statements are built once: SQLAlchemy then reuses their compiled form (a lease is a few hundred microseconds of
# SQLite work; rebuilding statements per call cost more than that).
_HEARTBEAT = update(_T).where(_held()).values(lease_expires_at=bindparam("b_expires", type_=DateTime()),
                                               heartbeat_at=_NOW)
_FINISH = {
    "completed": update(_T).where(_held()).values(
        **CLEAR_LEASE, last_used_at=_NOW, pool_status="completed", completed_at=_NOW).returning(_T.c.pool_status),
    "failed": update(_T).where(_held()).values(
        **CLEAR_LEASE, last_used_at=_NOW, failure_count=_T.c.failure_count + 1, last_error=bindparam("b_reason"),
        pool_status=case((and_(bindparam("b_retry", type_=Boolean()),
                               _T.c.failure_count + 1 < bindparam("b_max", type_=Integer())), "available"),
                         else_="failed"),
    ).returning(_T.c.pool_status),
    "returned": update(_T).where(_held()).values(
        **CLEAR_LEASE, last_used_at=_NOW, pool_status="available").returning(_T.c.pool_status),
}
_RECORD = insert(_RESULTS)


class Leaser:
    """The prepared compare-and-set ``UPDATE`` for one candidate set (e.g. one pool's members, in its order).

    ``where`` filters candidates; ``joins`` are ``(table, on)`` pairs added to the candidate query; ``order_by``
    says which free account comes first (``accounts.id`` breaks ties).
    """

    def __init__(self, *, where: Iterable[ColumnElement[bool]] = (),
                 order_by: Sequence[SqlOrderTerm] = (),
                 joins: Sequence[tuple[FromClause, ColumnElement[bool]]] = (), pool: str | None = None) -> None:
        self.pool = pool
        pick = select(_T.c.id)
        for table, on in joins:
            pick = pick.join(table, on)
        pick_id = (pick.where(leasable(_NOW), *where).order_by(*order_by, _T.c.id).limit(1)
                   .with_for_update(skip_locked=True, of=_T).scalar_subquery())
        self._probe = select(pick_id.label("id"))
        self._take = (
            update(_T)
            .where(_T.c.id == pick_id, leasable(_NOW))
            .values(lease_owner=bindparam("b_owner"), lease_instance=bindparam("b_instance"),
                    lease_token=bindparam("b_token"), leased_at=_NOW,
                    lease_expires_at=bindparam("b_expires", type_=DateTime()), heartbeat_at=_NOW,
                    pool_status="in_use", last_used_at=_NOW)
            .returning(_T.c.id, _T.c.device_account, _T.c.device_password)
        )

    @translate_db_errors("lease acquire")
    def acquire(self, eng: Engine, owner: LeaseOwner, *, ttl_s: float = DEFAULT_TTL_S) -> Lease | None:
        """Lease the first leasable candidate, or ``None`` if there is none. Never waits for other holders.

        Raises:
            LeaseError: ``ttl_s`` is not in (0, 30 days].
            DatabaseError: the database failed.
        """
        _check_ttl(ttl_s, self.pool)
        for _ in range(_ATTEMPTS):
            now = utcnow()
            token, expires = str(uuid.uuid4()), now + timedelta(seconds=ttl_s)
            params = {"b_now": now, "b_owner": owner.run_id, "b_instance": owner.instance, "b_token": token,
                      "b_expires": expires}
            # A single statement in autocommit mode: SQLite holds the write lock only while it executes, never
            # across Python code before a COMMIT (a descheduled holder would stall every other writer; measured
            # in benchmarks/leases.py). On PostgreSQL a single UPDATE is atomic in autocommit as well.
            with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = conn.execute(self._take, params).first()
                # No row: nothing leasable at all, or (PostgreSQL only) a concurrent taker won the row.
                empty = row is None and conn.execute(self._probe, {"b_now": now}).scalar() is None
            if empty:
                return None
            if row is not None:
                return Lease(row.id, row.device_account, row.device_password, owner, token, now, expires, self.pool)
        return None


def acquire(
    eng: Engine,
    owner: LeaseOwner,
    *,
    ttl_s: float = DEFAULT_TTL_S,
    where: Iterable[ColumnElement[bool]] = (),
    order_by: Sequence[SqlOrderTerm] = (),
    joins: Sequence[tuple[FromClause, ColumnElement[bool]]] = (),
    pool: str | None = None,
) -> Lease | None:
    """One-off :meth:`Leaser.acquire` (callers leasing repeatedly keep a :class:`Leaser`)."""
    return Leaser(where=where, order_by=order_by, joins=joins, pool=pool).acquire(eng, owner, ttl_s=ttl_s)


def _check_ttl(ttl_s: float, pool: str | None) -> None:
    if not 0 < ttl_s <= MAX_DURATION_S:  # also refuses NaN; an unbounded TTL would overflow the expiry time
        raise LeaseError(f"ttl_s must be in (0, {MAX_DURATION_S:.0f}] seconds, got {ttl_s}", pool=pool)


def _gone(lease: Lease) -> LeaseError:
    return LeaseError(f"lease held by {lease.owner} is gone (expired and reclaimed, or already released)",
                      pool=lease.pool, account_id=lease.account_id)


@translate_db_errors("lease heartbeat")
def heartbeat(eng: Engine, lease: Lease, *, ttl_s: float = DEFAULT_TTL_S) -> Lease:
    """Extend ``lease`` to now + ``ttl_s``; returns the renewed lease.

    Raises:
        LeaseError: the lease is gone (released, finished, or expired and reclaimed by another owner), or
            ``ttl_s`` is not in (0, 30 days].
        DatabaseError: the database failed.
    """
    _check_ttl(ttl_s, lease.pool)
    now = utcnow()
    expires = now + timedelta(seconds=ttl_s)
    params = {"b_id": lease.account_id, "b_token": lease.token, "b_now": now, "b_expires": expires}
    with eng.begin() as conn:
        renewed = conn.execute(_HEARTBEAT, params).rowcount
    if renewed != 1:
        raise _gone(lease)
    return replace(lease, expires_at=expires)


@translate_db_errors("lease finish")
def finish(
    eng: Engine,
    lease: Lease,
    outcome: AccountOutcome,
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
    if outcome not in _FINISH:
        raise ValueError(f"unknown outcome {outcome!r}")
    now = utcnow()
    params = {"b_id": lease.account_id, "b_token": lease.token, "b_now": now, "b_reason": reason,
              "b_retry": retry_failed, "b_max": max_failures}
    res = result or AccountResult(success=outcome is Outcome.COMPLETED, error=reason)
    record = {
        "account_id": lease.account_id, "pool_name": lease.pool, "outcome": outcome, "success": res.success,
        "error": res.error if res.error is not None else reason, "packs_opened": res.packs_opened,
        "cards_found": res.cards_found, "stars_total": res.stars_total, "keep_count": res.keep_count,
        "duration_seconds": (now - lease.leased_at).total_seconds(), "lease_owner": lease.owner.run_id,
        "lease_instance": lease.owner.instance, "recorded_at": now,
    }

    with eng.begin() as conn:
        row = conn.execute(_FINISH[outcome], params).first()
        if row is None:
            raise _gone(lease)
        conn.execute(_RECORD, record)
    return str(row.pool_status)


@translate_db_errors("lease release all")
def release_all(eng: Engine, run_id: str) -> int:
    """Return every account leased by flow run ``run_id`` to ``available`` (stopping a group); returns the count."""
    with eng.begin() as conn:
        return conn.execute(
            update(_T)
            .where(_T.c.lease_owner == run_id, _T.c.lease_token.is_not(None))
            .values(**CLEAR_LEASE, pool_status="available")
        ).rowcount
