"""``PoolAccountProvider``: the routine engine's account actions on a leased pool (digest §1.5, §5.6, §6).

Fixes the seed's defects (§11.2 items 5, 6, 11): the checkout is a real lease with a heartbeat; injection is the
working recipe of :func:`emufleet.accounts.inject`; ``on_no_accounts: wait`` really waits; ``account_id`` acts on
the lease itself (not a clone); the field actions write the real column (``wonder_picks`` → ``wonder_picks_done``)
and only while this bot holds the lease; the ``routine_executions`` row belongs to the account that was injected,
and finishing it never touches the metrics ``UpdateRoutineMetrics`` wrote. The end of a lease that the database
refuses (read-only, full, unreachable) is kept and written again in the background (:mod:`.unrecorded`), never
dropped: an account played is recorded once the database accepts writes again (issue 23 item 4).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from sqlalchemy import insert, select, update

from emufleet.accounts.device import inject as inject_account
from emufleet.accounts.xmlfile import AccountCredentials
from emufleet.boundary import JsonObject
from emufleet.db import POOL_STATUSES, Account, RoutineExecution, translate_db_errors, utcnow
from emufleet.device.interface import DeviceLike
from emufleet.errors import DatabaseError, InputError, LeaseError, NoAccountsAvailable, RoutineStopped
from emufleet.pools.filters import ALIASES, COLUMNS, RelativeTime, parse_value
from emufleet.pools.heartbeat import HeartbeatThread
from emufleet.pools.leases import Lease
from emufleet.pools.pool import Pool
from emufleet.pools.unrecorded import UnrecordedResults
from emufleet.routines.accounts import AccountRef, AccountResult, OnNoAccounts

__all__ = ["GETTABLE_FIELDS", "INCREMENTABLE_FIELDS", "UPDATABLE_FIELDS", "PoolAccountProvider"]

log = logging.getLogger(__name__)

UPDATABLE_FIELDS = ("packs_opened", "shinedust", "hourglasses", "wonder_picks_done", "last_used_at",
                    "completed_at", "pool_status", "failure_count", "last_error")
"""``UpdateAccountField`` whitelist (digest §1.5 Database; ``wonder_picks`` is accepted as an alias)."""
INCREMENTABLE_FIELDS = ("packs_opened", "shinedust", "hourglasses", "wonder_picks_done", "failure_count")
"""``IncrementAccountField`` whitelist (numeric columns)."""
GETTABLE_FIELDS = (*UPDATABLE_FIELDS, "device_account")
"""``GetAccountField`` whitelist."""

Injector = Callable[[DeviceLike, AccountCredentials], None]
_MIN_WAIT_ROUND_S = 1.0
SETTLE_S = 10.0
"""How long (seconds) :meth:`PoolAccountProvider.close` keeps retrying results the database refused."""


@dataclass
class _Held:
    lease: Lease
    execution_id: int
    metrics: dict[str, int] = field(default_factory=dict)  # UpdateRoutineMetrics values during this lease
    increments: dict[str, int] = field(default_factory=dict)  # IncrementAccountField sums during this lease

    def reported(self, result: AccountResult) -> AccountResult:
        """``result`` with the counters the routine left out taken from what its actions recorded."""
        packs = result.packs_opened
        if packs is None:
            packs = self.metrics.get("packs_opened", self.increments.get("packs_opened"))
        return replace(result, packs_opened=packs)


def _field(name: str, allowed: tuple[str, ...]) -> str:
    real = ALIASES.get(name, name)
    if real not in allowed:
        raise InputError(f"{name!r} is not allowed here; allowed: {', '.join(allowed)} (and wonder_picks)",
                         field="field")
    return real


class PoolAccountProvider:
    """Implements :class:`emufleet.routines.accounts.AccountProvider` for one bot on a :class:`Pool`.

    ``pool`` leases to this bot's owner (``pool.for_owner(LeaseOwner(run_id, serial))``); ``routine`` names the
    ``routine_executions`` rows; setting ``cancel`` ends an ``on_no_accounts: wait`` with ``RoutineStopped``.
    Thread-safe against the heartbeat thread. Ends of leases the database refused wait in :attr:`unrecorded`
    (retried for up to the pool's ``lease_ttl`` seconds).
    """

    def __init__(self, pool: Pool, *, routine: str = "", cancel: threading.Event | None = None,
                 injector: Injector = inject_account) -> None:
        self.pool = pool
        self.routine = routine
        self.cancel = cancel
        self._inject = injector
        self._held: dict[int, _Held] = {}
        self._current: int | None = None
        self._lock = threading.Lock()
        self._in_use = True
        #: Lease ends the database refused, retried in the background (issue 23 item 4).
        self.unrecorded = UnrecordedResults(max_age_s=pool.definition.config.lease_ttl,
                                            name=f"emufleet-unrecorded-{pool.name}")
        pool.open_use()  # the pool refreshes in the background while a bot uses it (refresh_interval)

    # -- AccountProvider --------------------------------------------------------------------------------------

    @property
    def current(self) -> AccountRef | None:
        with self._lock:
            held = self._held.get(self._current) if self._current is not None else None
        return AccountRef(held.lease.account_id, held.lease.device_account, self.pool.name) if held else None

    @translate_db_errors("account checkout")
    def inject_next(self, device: DeviceLike, *, timeout_s: float, on_no_accounts: OnNoAccounts) -> AccountRef | None:
        """Lease, inject and make current the next account (digest §5.6).

        ``on_no_accounts``: ``stop`` waits ``timeout_s`` then raises ``NoAccountsAvailable``; ``continue`` waits
        ``timeout_s`` then returns ``None``; ``wait`` keeps waiting (rounds of at least 1 s) until an account
        is free or ``cancel`` is set (``RoutineStopped``). An account still current is returned to the pool first.
        Injection errors (``DeviceError``) return the lease and propagate; so does a failure to write the
        execution record (``DatabaseError``): a failed checkout never leaves the account leased.
        """
        if self._current is not None:
            log.warning("InjectNextAccount while account %s is current: returning it to the pool", self._current)
            self.return_account(None, reason="replaced by InjectNextAccount")
        lease = self._lease(timeout_s, on_no_accounts)
        if lease is None:
            return None
        try:
            self._inject(device, AccountCredentials(lease.device_account, lease.device_password))
        except BaseException as exc:
            try:
                self.pool.release(lease, reason=f"injection failed: {exc}")
            except LeaseError as lost:  # keep the injection error; the lease will expire on its own
                log.warning("%s", lost)
            raise
        try:
            with self.pool.engine.begin() as conn:
                execution_id = conn.execute(insert(RoutineExecution).values(
                    account_id=lease.account_id, routine_name=self.routine, execution_status="started",
                    started_at=utcnow(), bot_instance=lease.owner.instance, orchestration_id=lease.owner.run_id,
                ).returning(RoutineExecution.id)).scalar_one()
        except BaseException as exc:
            # A full disk or a locked database here must not leave the account leased to a bot that never
            # learns of it (it would sit in_use until the lease expires): give it back, then report the error.
            try:
                self.pool.release(lease, reason=f"execution record failed: {exc}")
            except (LeaseError, DatabaseError) as lost:  # the database is gone entirely: the lease expires alone
                log.warning("account %s not released after a failed checkout: %s", lease.account_id, lost)
            raise
        with self._lock:
            self._held[lease.account_id] = _Held(lease, execution_id)
            self._current = lease.account_id
        return AccountRef(lease.account_id, lease.device_account, self.pool.name)

    def reinject(self, device: DeviceLike) -> AccountRef | None:
        """Inject the current account again (after an app or instance restart); its lease is kept.

        Returns the account, or ``None`` when none is current. Raises ``DeviceError`` if the injection fails
        (the lease stays held: the caller decides).
        """
        with self._lock:
            held = self._held.get(self._current) if self._current is not None else None
        if held is None:
            return None
        self._inject(device, AccountCredentials(held.lease.device_account, held.lease.device_password))
        return AccountRef(held.lease.account_id, held.lease.device_account, self.pool.name)

    def _lease(self, timeout_s: float, on_no_accounts: OnNoAccounts) -> Lease | None:
        # "wait" polls in rounds of at least a second, so `timeout: 0` cannot turn it into a busy loop.
        round_s = max(timeout_s, _MIN_WAIT_ROUND_S) if on_no_accounts == "wait" else timeout_s
        rounds = 0
        while True:
            try:
                return self.pool.next(round_s, cancel=self.cancel)
            except NoAccountsAvailable:
                if self.cancel is not None and self.cancel.is_set():
                    raise RoutineStopped("stopped while waiting for an account", routine=self.routine) from None
                if on_no_accounts == "continue":
                    return None
                if on_no_accounts != "wait":
                    raise
                rounds += 1
                log.log(logging.INFO if rounds == 1 else logging.DEBUG,
                        "pool %r: no account free; waiting (%.0f s so far)", self.pool.name, rounds * round_s)

    def complete(self, account_id: int | None, result: AccountResult) -> None:
        """``CompleteAccount``: counters the routine left out come from what its actions recorded on this lease
        (``UpdateRoutineMetrics``, ``IncrementAccountField packs_opened``), so the pool's stats sum real work; packs
        reported but not yet added to the account's ``packs_opened`` column are added to it."""
        held = self._peek(account_id)
        result = held.reported(result)
        extra = (result.packs_opened or 0) - held.increments.get("packs_opened", 0)
        added = extra <= 0

        def end(lease: Lease) -> None:
            nonlocal added  # once only, also when the lease end is retried (issue 23 item 4)
            if not added:
                with contextlib.suppress(LeaseError):  # a lost lease is reported by _end, with the execution row
                    self._write_lease(lease, {"packs_opened": Account.packs_opened + extra})
                added = True
            self.pool.complete(lease, result)

        self._end(account_id, end, "completed" if result.success else "failed", result.error)

    def return_account(self, account_id: int | None, reason: str | None = None) -> None:
        self._end(account_id, lambda lease: self.pool.release(lease, reason=reason), "returned", reason)

    def mark_failed(self, account_id: int | None, reason: str) -> None:
        result = self._peek(account_id).reported(AccountResult(success=False, error=reason))
        self._end(account_id, lambda lease: self.pool.fail(lease, reason, result=result), "failed", reason)

    def update_field(self, account_id: int | None, field: str, value: str) -> None:
        real = _field(field, UPDATABLE_FIELDS)
        if real == "pool_status" and value not in POOL_STATUSES:
            raise InputError(f"pool_status must be one of {', '.join(POOL_STATUSES)}; got {value!r}", field="value")
        try:
            typed = parse_value(real, "=", value)
        except ValueError as exc:
            raise InputError(str(exc), field="value") from None
        if isinstance(typed, RelativeTime):
            typed = typed.at(utcnow())
        self._write(account_id, {real: typed})

    def increment_field(self, account_id: int | None, field: str, amount: int) -> None:
        real = _field(field, INCREMENTABLE_FIELDS)
        column = COLUMNS[real][0]
        self._write(account_id, {real: column + int(amount)})
        held = self._peek(account_id)
        with self._lock:
            held.increments[real] = held.increments.get(real, 0) + int(amount)

    @translate_db_errors("account field read")
    def get_field(self, account_id: int | None, field: str) -> object:
        real = _field(field, GETTABLE_FIELDS)
        key = self._resolve_id(account_id)
        with self.pool.engine.connect() as conn:
            row = conn.execute(select(COLUMNS[real][0] if real in COLUMNS else Account.device_account)
                               .where(Account.id == key)).first()
        if row is None:
            raise LeaseError("unknown account", pool=self.pool.name, account_id=key)
        return row[0]

    @translate_db_errors("routine metrics")
    def update_routine_metrics(self, *, packs_opened: int | None, wonder_picks_done: int | None) -> None:
        values = {k: v for k, v in (("packs_opened", packs_opened), ("wonder_picks_done", wonder_picks_done))
                  if v is not None}
        with self._lock:
            held = self._held.get(self._current) if self._current is not None else None
        if held is None:
            log.warning("UpdateRoutineMetrics without a current account: nothing recorded")
            return
        if values:
            with self._lock:
                held.metrics.update(values)
            with self.pool.engine.begin() as conn:
                conn.execute(update(RoutineExecution).where(RoutineExecution.id == held.execution_id).values(**values))

    # -- leases held by this bot ------------------------------------------------------------------------------

    def heartbeat(self) -> int:
        """Renew every lease this bot holds; returns how many. A lost lease is logged (``LeaseError`` later)."""
        with self._lock:
            held = list(self._held.values())
        renewed = 0
        for item in held:
            try:
                lease = self.pool.heartbeat(item.lease)
            except LeaseError as exc:
                log.warning("%s", exc)
                continue
            with self._lock:
                if item.lease.account_id in self._held:
                    self._held[item.lease.account_id].lease = lease
            renewed += 1
        return renewed

    def start_heartbeat(self, interval_s: float | None = None) -> HeartbeatThread:
        """A started :class:`HeartbeatThread` renewing this bot's leases (default: every ``lease_ttl / 3`` s)."""
        return HeartbeatThread(self.heartbeat, interval_s or self.pool.definition.config.lease_ttl / 3).start()

    def close(self, reason: str = "bot stopped", *, settle_s: float = SETTLE_S) -> None:
        """Return every account still held (the bot ends; lost leases are ignored) and stop using the pool.

        Results the database refused are retried for up to ``settle_s`` more seconds, then given up (one ERROR
        line each: the account is played again once its lease expires).
        """
        with self._lock:
            ids = list(self._held)
            in_use, self._in_use = self._in_use, False
        if in_use:
            self.pool.close_use()
        for account_id in ids:
            try:
                self.return_account(account_id, reason=reason)
            except LeaseError as exc:
                log.warning("%s", exc)
        self.unrecorded.close(settle_s)

    def _resolve_id(self, account_id: int | None) -> int:
        with self._lock:
            key = self._current if account_id is None else int(account_id)
        if key is None:
            raise LeaseError("no current account (run InjectNextAccount first)", pool=self.pool.name)
        return key

    def _peek(self, account_id: int | None) -> _Held:
        key = self._resolve_id(account_id)
        with self._lock:
            held = self._held.get(key)
        if held is None:
            raise LeaseError("not leased by this bot", pool=self.pool.name, account_id=key)
        return held

    def _take(self, account_id: int | None) -> _Held:
        key = self._resolve_id(account_id)
        with self._lock:
            held = self._held.pop(key, None)
            if held is not None and self._current == key:
                self._current = None
        if held is None:
            raise LeaseError("not leased by this bot", pool=self.pool.name, account_id=key)
        return held

    def _end(self, account_id: int | None, action: Callable[[Lease], object], status: str,
             error: str | None) -> None:
        held = self._take(account_id)
        ended = False

        def write() -> None:  # safe to call again after a DatabaseError: each step is done once
            nonlocal ended
            if not ended:
                try:
                    action(held.lease)
                except LeaseError:
                    self._finish_execution(held, "lost", "lease lost before the account was finished")
                    raise
                ended = True
            self._finish_execution(held, status, error)

        try:
            write()
        except DatabaseError as exc:  # read-only, full or unreachable: keep it and retry, never drop it
            self.unrecorded.keep(f"pool {self.pool.name!r}: account {held.lease.account_id} {status}", write, exc)

    def _write(self, account_id: int | None, values: JsonObject) -> None:
        key = self._resolve_id(account_id)
        with self._lock:
            held = self._held.get(key)
        if held is None:
            raise LeaseError("not leased by this bot; fields are written only under a lease", pool=self.pool.name,
                             account_id=key)
        self._write_lease(held.lease, values)

    @translate_db_errors("account field write")
    def _write_lease(self, lease: Lease, values: JsonObject) -> None:
        with self.pool.engine.begin() as conn:
            n = conn.execute(update(Account).where(Account.id == lease.account_id, Account.lease_token == lease.token)
                             .values(**values)).rowcount
        if n != 1:
            raise LeaseError("lease lost (expired and reclaimed)", pool=self.pool.name, account_id=lease.account_id)

    @translate_db_errors("routine execution record")
    def _finish_execution(self, held: _Held, status: str, error: str | None) -> None:
        now = utcnow()
        with self.pool.engine.begin() as conn:
            started = conn.scalar(select(RoutineExecution.started_at)
                                  .where(RoutineExecution.id == held.execution_id))
            conn.execute(update(RoutineExecution).where(RoutineExecution.id == held.execution_id).values(
                execution_status=status, completed_at=now, error_message=error,
                duration_seconds=(now - started).total_seconds() if started else None))
