"""A pool of accounts for one launch: resolution, refresh, blocking ``next``, leases and stats (digest §5.4–§5.5).

The seed kept pool state in memory, behind a 100-slot channel, with a non-blocking ``GetNext`` and one cached
instance shared (and closable) across groups (defect §11.2 item 7). Here:

* the resolved membership is written to ``pool_members`` at every refresh and leases live in ``accounts``, so a
  restart loses nothing and several processes (or hosts, on PostgreSQL) share one pool safely;
* :meth:`Pool.next` blocks until an account is free or the timeout passes (``NoAccountsAvailable``), with no
  queue and therefore no size cap;
* a ``Pool`` object belongs to one launch: groups naming the same definition each build their own, and there is
  nothing to close.

Resolution order (§5.4): every enabled query (filters AND-ed, sorted, limited), unioned by account in first-seen
order; then ``include`` (names missing from the database are logged and skipped); then the SharedPreferences files
under ``watched_paths`` (imported: upserted into ``accounts``); ``exclude`` is removed last. ``config.sort_method``
orders checkouts; without one, checkouts follow the resolution order.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from emufleet.accounts.store import scan_account_files, upsert_accounts
from emufleet.db import Account, AccountResultRecord, PoolMember, PoolRecord, translate_db_errors, utcnow
from emufleet.errors import NoAccountsAvailable
from emufleet.outcome import Outcome
from emufleet.pools import leases
from emufleet.pools.definition import PoolDefinition, PoolQuery
from emufleet.pools.filters import COLUMNS, filter_expression, sort_method_order
from emufleet.pools.heartbeat import HeartbeatThread
from emufleet.pools.leases import Lease, LeaseOwner
from emufleet.routines.accounts import AccountResult

__all__ = ["Pool", "PoolStats", "PoolTestResult", "RefreshReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """Outcome of a refresh: members resolved, accounts imported from watched paths, and what was skipped."""

    members: int
    imported: int
    missing_include: tuple[str, ...] = ()
    file_errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolTestResult:
    """A dry run of the resolution (digest §5.5 ``TestPool``): how many accounts, and the first few names."""

    total: int
    sample: tuple[str, ...]
    missing_include: tuple[str, ...] = ()
    file_errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PoolStats:
    """Counts by state over the pool's members and sums of the results reported in this pool (digest §5.5)."""

    total: int = 0
    available: int = 0
    in_use: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    packs_opened: int = 0
    cards_found: int = 0
    stars_total: int = 0
    keep_count: int = 0
    results: int = 0
    last_refresh: datetime | None = None
    shinedust: int = 0  # summed over the members' accounts (what the bots last read on their screens)


@dataclass
class _Resolution:
    ids: list[int] = field(default_factory=list)
    imported: int = 0
    missing_include: list[str] = field(default_factory=list)
    file_errors: list[str] = field(default_factory=list)


class _RefreshClock:
    """What a launch's per-bot views of its pool share: the definition and its leaser (replaced together by
    :meth:`Pool.redefine`), when the pool was last resolved (``time.monotonic()``), and the background refresher
    that runs while any of them is in use."""

    def __init__(self, definition: PoolDefinition) -> None:
        self.definition = definition
        self.leaser = _leaser(definition)
        self.last: float | None = None
        self.lock = threading.Lock()
        self.users = 0
        self.refresher: HeartbeatThread | None = None


def _leaser(definition: PoolDefinition) -> leases.Leaser:
    return leases.Leaser(
        joins=[(PoolMember.__table__, PoolMember.account_id == Account.id)],
        where=[PoolMember.pool_name == definition.pool_name],
        order_by=[*sort_method_order(definition.config.sort_method), PoolMember.position],
        pool=definition.pool_name,
    )


class Pool:
    """The accounts of one :class:`PoolDefinition`, leased to ``owner`` (the launch's flow run id + instance).

    Thread-safe; every state change is one database transaction. Bots of one launch use :meth:`for_owner` views
    (same launch, own instance), which share the launch's refresh schedule.
    """

    def __init__(self, definition: PoolDefinition, engine: Engine, owner: LeaseOwner, *,
                 poll_interval_s: float = 0.25) -> None:
        self.engine = engine
        self.owner = owner
        self.poll_interval_s = poll_interval_s
        self._clock = _RefreshClock(definition)

    @property
    def definition(self) -> PoolDefinition:
        """The pool's definition (the newest :meth:`redefine` gave, shared by the launch's views)."""
        return self._clock.definition

    @property
    def _leaser(self) -> leases.Leaser:
        return self._clock.leaser

    @property
    def name(self) -> str:
        return self.definition.pool_name

    def for_owner(self, owner: LeaseOwner) -> Pool:
        """The same pool (same launch, same refresh schedule) leasing to ``owner`` (e.g. one bot's instance)."""
        view = Pool(self.definition, self.engine, owner, poll_interval_s=self.poll_interval_s)
        view._clock = self._clock
        return view

    def redefine(self, definition: PoolDefinition) -> bool:
        """Take an edited definition of this pool (hot reload) for every view of the launch: the next account
        checked out (:meth:`try_next`) re-resolves the membership with it first and is leased in its order; leases
        held go on. Returns ``False`` (nothing changed) for a definition of another pool (``pool_name``): the
        members are kept under the name, so a renamed pool is a new pool, for the next launch."""
        if definition.pool_name != self.name:
            return False
        with self._clock.lock:
            self._clock.definition, self._clock.leaser = definition, _leaser(definition)
            self._clock.last = None  # resolve again at the next checkout
        return True

    # -- resolution -------------------------------------------------------------------------------------------

    def _query_ids(self, conn: Connection, query: PoolQuery, now: datetime) -> list[int]:
        stmt = select(Account.id).where(
            *(filter_expression(f.column, f.comparator, f.value, now) for f in query.filters if f.enabled))
        order = [COLUMNS[s.column][0].desc() if s.direction == "desc" else COLUMNS[s.column][0].asc()
                 for s in query.sort if s.enabled]
        stmt = stmt.order_by(*order, Account.id)
        if query.limit:
            stmt = stmt.limit(query.limit)
        return list(conn.scalars(stmt))

    def _resolve(self, conn: Connection) -> _Resolution:
        now = utcnow()
        out = _Resolution()
        seen: dict[int, None] = {}  # an ordered set: the first source to name an account fixes its position
        for query in self.definition.queries:
            seen.update(dict.fromkeys(self._query_ids(conn, query, now)))
        if self.definition.include:
            found = dict(conn.execute(select(Account.device_account, Account.id)
                                      .where(Account.device_account.in_(self.definition.include))).all())
            out.missing_include = [n for n in self.definition.include if n not in found]
            for name in out.missing_include:
                log.warning("pool %r: included account %r is not in the database; skipped", self.name, name)
            seen.update(dict.fromkeys(found[n] for n in self.definition.include if n in found))
        if self.definition.watched_paths:
            files, errors = scan_account_files(self.definition.watched_dirs())
            out.file_errors = [str(e) for e in errors]
            for err in errors:
                log.warning("pool %r: %s", self.name, err)
            report = upsert_accounts(conn, files)
            out.imported = report.created + report.updated
            seen.update(dict.fromkeys(report.ids.values()))
        if self.definition.exclude and seen:
            excluded = set(conn.scalars(select(Account.id)
                                        .where(Account.device_account.in_(self.definition.exclude))))
            seen = {i: None for i in seen if i not in excluded}
        out.ids = list(seen)
        return out

    def _resolve_locked(self, conn: Connection) -> _Resolution:
        """Stamp the pool row, then resolve. Writing first takes the write lock (SQLite) or the row lock
        (PostgreSQL): concurrent refreshes of one pool queue up, and the transaction never has to upgrade from
        reading to writing (SQLite refuses that with SQLITE_BUSY when another writer got in between)."""
        now = utcnow()
        file = str(self.definition.file) if self.definition.file else None
        touched = conn.execute(update(PoolRecord).where(PoolRecord.name == self.name)
                               .values(refreshed_at=now, definition_file=file)).rowcount
        if not touched:
            conn.execute(insert(PoolRecord).values(name=self.name, refreshed_at=now, definition_file=file))
        return self._resolve(conn)

    @translate_db_errors("pool refresh")
    def refresh(self) -> RefreshReport:
        """Resolve the pool and persist its membership (one transaction); leases in progress are untouched.

        Raises ``DatabaseError`` for database failures only; bad watched files are reported, not raised.
        """
        for attempt in range(3):
            try:
                with self.engine.begin() as conn:
                    res = self._resolve_locked(conn)
                    conn.execute(delete(PoolMember).where(PoolMember.pool_name == self.name))
                    if res.ids:
                        conn.execute(insert(PoolMember), [{"pool_name": self.name, "account_id": i, "position": n}
                                                          for n, i in enumerate(res.ids)])
                break
            except IntegrityError:  # another process created the pool row or imported a file first: redo
                if attempt == 2:
                    raise
        self._clock.last = time.monotonic()
        log.info("pool %r refreshed: %d members, %d imported", self.name, len(res.ids), res.imported)
        return RefreshReport(len(res.ids), res.imported, tuple(res.missing_include), tuple(res.file_errors))

    @translate_db_errors("pool test")
    def test(self, sample: int = 10) -> PoolTestResult:
        """Resolve without keeping anything (the transaction is rolled back): total and up to ``sample`` names."""
        with self.engine.connect() as conn:
            trans = conn.begin()
            try:
                res = self._resolve_locked(conn)
                names: dict[int, str] = dict(conn.execute(
                    select(Account.id, Account.device_account).where(Account.id.in_(res.ids[:sample]))).all())
            finally:
                trans.rollback()
        return PoolTestResult(len(res.ids), tuple(names[i] for i in res.ids[:sample]), tuple(res.missing_include),
                              tuple(res.file_errors))

    def _refresh_if_due(self) -> None:
        interval = self.definition.config.refresh_interval
        with self._clock.lock:  # one refresh per launch, not one per bot
            last = self._clock.last
            if last is None or (interval and time.monotonic() - last >= interval):
                self.refresh()

    # -- background refresh (digest §5.4 "Auto-refresh runs every refresh_interval seconds") ------------------

    def open_use(self) -> None:
        """Count one user of this launch's pool (a bot's provider); the first starts the background refresh.

        With ``config.refresh_interval > 0`` the membership is re-resolved every ``refresh_interval`` seconds
        while at least one user is open (the seed's auto-refresh, which ran while the pool was in use), not only
        when an account is checked out. Pair with :meth:`close_use`.
        """
        interval = self.definition.config.refresh_interval
        with self._clock.lock:
            self._clock.users += 1
            if interval and self._clock.refresher is None:
                # Wake four times per interval: a refresh a checkout made meanwhile moves the next one back.
                self._clock.refresher = HeartbeatThread(self._refresh_if_due, max(0.05, interval / 4),
                                                        name=f"pool-refresh:{self.name}").start()

    def close_use(self) -> None:
        """End one :meth:`open_use`; the last one stops the background refresh (without waiting for it)."""
        with self._clock.lock:
            self._clock.users = max(0, self._clock.users - 1)
            refresher = self._clock.refresher if self._clock.users == 0 else None
            if refresher is not None:
                self._clock.refresher = None
        if refresher is not None:
            refresher.stop(timeout_s=0)

    @property
    def auto_refreshing(self) -> bool:
        """Whether the background refresh runs now (some user is open and ``refresh_interval > 0``)."""
        return self._clock.refresher is not None

    # -- leases -----------------------------------------------------------------------------------------------

    def try_next(self) -> Lease | None:
        """Lease the next free account now, or ``None``. Refreshes first when due (first use, refresh_interval)."""
        self._refresh_if_due()
        return self._leaser.acquire(self.engine, self.owner, ttl_s=self.definition.config.lease_ttl)

    def next(self, timeout_s: float = 0.0, *, cancel: threading.Event | None = None) -> Lease:
        """Lease the next free account, waiting up to ``timeout_s`` seconds for one to become free.

        Raises:
            NoAccountsAvailable: nothing free before the timeout (or ``cancel`` was set while waiting).
        """
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            lease = self.try_next()
            if lease is not None:
                return lease
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (cancel is not None and cancel.is_set()):
                stats = self.stats()
                why = "cancelled while waiting" if cancel is not None and cancel.is_set() else \
                    f"no account free after {timeout_s:g} s"
                raise NoAccountsAvailable(
                    f"{why} ({stats.total} members: {stats.in_use} in use, {stats.completed} completed, "
                    f"{stats.failed} failed)", pool=self.name)
            pause = min(self.poll_interval_s, remaining)
            if cancel is not None:
                cancel.wait(pause)
            else:
                time.sleep(pause)

    def heartbeat(self, lease: Lease) -> Lease:
        """Extend ``lease`` by the pool's ``lease_ttl``; ``LeaseError`` if it was lost."""
        return leases.heartbeat(self.engine, lease, ttl_s=self.definition.config.lease_ttl)

    def release(self, lease: Lease, reason: str | None = None) -> None:
        """Give the account back as ``available`` (``ReturnAccount``); ``LeaseError`` if not held."""
        leases.finish(self.engine, lease, Outcome.RETURNED, reason=reason)

    def complete(self, lease: Lease, result: AccountResult) -> str:
        """Record ``result``: success → ``completed``; failure → the retry rules. Returns the new status."""
        if result.success:
            return leases.finish(self.engine, lease, Outcome.COMPLETED, result=result)
        return self.fail(lease, result.error or "failed", result=result)

    def fail(self, lease: Lease, reason: str, *, result: AccountResult | None = None) -> str:
        """``failure_count + 1`` and ``last_error``; ``available`` again under retry_failed/max_failures."""
        cfg = self.definition.config
        return leases.finish(self.engine, lease, Outcome.FAILED, result=result, reason=reason,
                             retry_failed=cfg.retry_failed, max_failures=cfg.max_failures)

    # -- inspection -------------------------------------------------------------------------------------------

    @translate_db_errors("pool stats")
    def stats(self) -> PoolStats:
        """Member counts by state (an expired lease counts as available) and result sums, from the database."""
        now = utcnow()
        counts: dict[str, int] = dict.fromkeys(("available", "in_use", "completed", "failed", "skipped"), 0)
        state = leases.effective_state(now)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(state, func.count()).select_from(Account)
                .join(PoolMember, PoolMember.account_id == Account.id).where(PoolMember.pool_name == self.name)
                .group_by(state))
            for name, n in rows:
                counts[name] = counts.get(name, 0) + int(n)
            shinedust = conn.scalar(
                select(func.coalesce(func.sum(Account.shinedust), 0))
                .join(PoolMember, PoolMember.account_id == Account.id).where(PoolMember.pool_name == self.name))
            # COALESCE makes the sums never NULL; the stubs type a nullable column's SUM as optional: `or 0`
            sums = conn.execute(select(
                func.coalesce(func.sum(AccountResultRecord.packs_opened), 0),
                func.coalesce(func.sum(AccountResultRecord.cards_found), 0),
                func.coalesce(func.sum(AccountResultRecord.stars_total), 0),
                func.coalesce(func.sum(AccountResultRecord.keep_count), 0),
                func.count(AccountResultRecord.id),
            ).where(AccountResultRecord.pool_name == self.name)).one()
            refreshed = conn.scalar(select(PoolRecord.refreshed_at).where(PoolRecord.name == self.name))
        return PoolStats(sum(counts.values()), counts["available"], counts["in_use"], counts["completed"],
                         counts["failed"], counts["skipped"], int(sums[0] or 0), int(sums[1] or 0), int(sums[2] or 0),
                         int(sums[3] or 0), int(sums[4]), refreshed, shinedust=int(shinedust or 0))
