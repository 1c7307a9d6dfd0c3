"""Quarantine: instances whose failures stand out from the fleet, and accounts that fail wherever they go.

**Instances** (docs/farm.md, "Quarantine"). Over the last ``window`` (default 1 h), count each instance's faults in
the ledger: recovery rungs taken (``bot.recovering``), failed attempts (``bot.attempt-failed``: the restart policy's
failures) and give-ups (``bot.gave-up``, counted ``give_up_weight`` times: a give-up ends a bot). An instance is
quarantined when its count is at least ``min_count`` (default 3) **and** at least ``factor`` (default 3) times the
median count of the *other* instances that were active in the window (a lone instance is held to ``min_count``
alone). A quarantined instance is skipped by launches until an
operator releases it, or until its cool-down (default 15 min) has passed and it passes a health check at the next
launch's acquisition.

**Accounts.** An account whose results were failures (``failed``, or ``returned`` unfinished) on at least
``account_instances`` (default 3) different instances within a day is marked ``failed`` with that reason (whatever
``retry_failed``/``max_failures`` say: it is the account, not the instances) and quarantined until
``emufleet accounts reset`` or a release.

Both rules are pure functions of the database (:func:`instance_verdict`, :func:`account_verdict`); :class:`FarmRules`
applies them to what the ledger writes, the account rule also as soon as a lease ends unsuccessfully
(:meth:`FarmRules.account_ended`, before the bot's next lease), and tells its ``notify`` callback about each new
quarantine.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, exists, func, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from emufleet.db.engine import utcnow
from emufleet.db.models import Account, AccountResultRecord, FleetEvent, Quarantine
from emufleet.errors import EmufleetError
from emufleet.farm.ledger import LedgerRow
from emufleet.groups.quarantine import QuarantineSettings

__all__ = ["FarmRules", "QuarantineEntry", "QuarantineSettings", "account_verdict", "active", "admit",
           "instance_verdict", "is_quarantined", "quarantine", "release"]

_log = logging.getLogger(__name__)
_FAULT_KINDS = ("bot.recovering", "bot.attempt-failed", "bot.gave-up")


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """An active quarantine: ``kind`` (``instance``/``account``), ``subject`` (``host/serial`` or account id)."""

    id: int
    kind: str
    subject: str
    reason: str
    since: datetime
    cooldown_until: datetime | None


def instance_verdict(engine: Engine, instance: str, settings: QuarantineSettings | None = None, *,
                     now: datetime | None = None) -> str | None:
    """Why ``instance`` (``host/serial``) should be quarantined now, or ``None`` (see the module docstring)."""
    settings = settings or QuarantineSettings()
    since = (now or utcnow()) - timedelta(seconds=settings.window)
    with engine.connect() as conn:
        active_instances = {r[0] for r in conn.execute(
            select(FleetEvent.instance).where(FleetEvent.at >= since).distinct())}
        faults: dict[str, int] = {i: 0 for i in active_instances | {instance}}
        for inst, kind, n in conn.execute(
                select(FleetEvent.instance, FleetEvent.kind, func.count()).where(
                    FleetEvent.at >= since, FleetEvent.kind.in_(_FAULT_KINDS))
                .group_by(FleetEvent.instance, FleetEvent.kind)):
            faults[inst] = faults.get(inst, 0) + int(n) * (settings.give_up_weight if kind == "bot.gave-up" else 1)
    mine = faults.pop(instance)
    median = statistics.median(faults.values()) if faults else 0.0
    threshold = max(float(settings.min_count), settings.factor * median)
    if mine < threshold:
        return None
    return (f"{mine} fault(s) in the last {settings.window / 60:g} min (recovery rungs, failed attempts, give-ups ×"
            f"{settings.give_up_weight}); the other {len(faults)} instance(s) had a median of {median:g}, "
            f"threshold {threshold:g}")


def account_verdict(engine: Engine, account_id: int, settings: QuarantineSettings | None = None, *,
                    now: datetime | None = None) -> str | None:
    """Why account ``account_id`` should be marked failed for good now, or ``None`` (see the module docstring)."""
    settings = settings or QuarantineSettings()
    since = (now or utcnow()) - timedelta(days=1)
    with engine.connect() as conn:
        instances = sorted({str(r[0]) for r in conn.execute(
            select(AccountResultRecord.lease_instance).where(
                AccountResultRecord.account_id == account_id, AccountResultRecord.recorded_at >= since,
                AccountResultRecord.success.is_(False), AccountResultRecord.lease_instance.is_not(None)))})
    if len(instances) < settings.account_instances:
        return None
    return f"failed on {len(instances)} different instances within a day ({', '.join(instances[:5])})"


def _active_clause(kind: str, subject: str) -> object:
    return and_(Quarantine.kind == kind, Quarantine.subject == subject, Quarantine.released_at.is_(None))


def quarantine(engine: Engine, kind: str, subject: str, reason: str, *, cooldown_s: float = 0.0,
               now: datetime | None = None) -> bool:
    """Quarantine ``subject`` unless it already is; ``True`` when this call quarantined it. Two writers racing may
    both add an entry: :func:`active` shows one per subject (the oldest) and :func:`release` ends them all."""
    at = now or utcnow()
    with engine.begin() as conn:
        if conn.execute(select(exists().where(_active_clause(kind, subject)))).scalar_one():  # type: ignore[arg-type]
            return False
        conn.execute(insert(Quarantine).values(kind=kind, subject=subject, reason=reason, since=at,
                                               cooldown_until=at + timedelta(seconds=cooldown_s)))
    return True


def release(engine: Engine, kind: str, subject: str, *, by: str = "operator", now: datetime | None = None) -> bool:
    """End ``subject``'s quarantine; ``False`` when it was not quarantined."""
    with engine.begin() as conn:
        done = conn.execute(update(Quarantine).where(_active_clause(kind, subject))  # type: ignore[arg-type]
                            .values(released_at=now or utcnow(), released_by=by[:255]))
    return bool(done.rowcount)


def active(engine: Engine, kind: str | None = None) -> list[QuarantineEntry]:
    """Every active quarantine (of ``kind`` if given), oldest first, one per subject."""
    query = select(Quarantine).where(Quarantine.released_at.is_(None)).order_by(Quarantine.since, Quarantine.id)
    if kind is not None:
        query = query.where(Quarantine.kind == kind)
    seen: dict[tuple[str, str], QuarantineEntry] = {}
    with Session(engine) as session:
        for q in session.scalars(query):
            seen.setdefault((q.kind, q.subject), QuarantineEntry(q.id, q.kind, q.subject, q.reason, q.since,
                                                                 q.cooldown_until))
    return list(seen.values())


def is_quarantined(engine: Engine, instance: str) -> QuarantineEntry | None:
    """The active quarantine of ``instance`` (``host/serial``), if any."""
    return next((q for q in active(engine, "instance") if q.subject == instance), None)


def admit(engine: Engine, instance: str, check: Callable[[], str | None], *, now: datetime | None = None
          ) -> str | None:
    """Whether a launch may use ``instance`` (``host/serial``): ``None`` when it may, else why not.

    A quarantined instance is skipped until its cool-down has passed; then ``check`` (a health check of the device:
    ``None`` when healthy, else what is wrong) decides: healthy, it is released (``released_by`` "health check")
    and may be used; unhealthy, it stays quarantined and the reason says what the check found.
    """
    entry = is_quarantined(engine, instance)
    if entry is None:
        return None
    at = now or utcnow()
    if entry.cooldown_until is not None and at < entry.cooldown_until:
        left = (entry.cooldown_until - at).total_seconds()
        return f"quarantined ({entry.reason}); cool-down ends in {left / 60:.0f} min"
    problem = check()
    if problem is not None:
        return f"quarantined ({entry.reason}); health check after the cool-down failed: {problem}"
    release(engine, "instance", instance, by="health check", now=at)
    _log.info("instance %s released from quarantine: healthy after its cool-down", instance)
    return None


@dataclass
class FarmRules:
    """Applies the quarantine rules to each batch the ledger writes (:attr:`emufleet.farm.Ledger.on_written`).

    ``notify`` receives every new quarantine (the Prefect layer turns it into an event, which the shipped
    automations notify on).
    """

    engine: Engine
    settings: QuarantineSettings
    notify: Callable[[QuarantineEntry], None] | None = None

    def __call__(self, rows: Sequence[LedgerRow]) -> None:
        for instance in sorted({r.instance for r in rows if r.kind in _FAULT_KINDS}):
            reason = instance_verdict(self.engine, instance, self.settings)
            if reason and quarantine(self.engine, "instance", instance, reason, cooldown_s=self.settings.cooldown):
                _log.warning("instance %s quarantined: %s", instance, reason)
                self._notify("instance", instance)
        for name in sorted({r.account for r in rows if r.kind in ("account.failed", "account.returned") and r.account}):
            with self.engine.connect() as conn:
                account_id = conn.execute(select(Account.id).where(Account.device_account == name)).scalar_one_or_none()
            if account_id is not None:
                self._check_account(account_id)

    def account_ended(self, account_id: int) -> None:
        """Apply the account rule to ``account_id``, whose lease has just ended unsuccessfully (failed, or returned
        unfinished). Called on the bot's thread before its next lease: waiting for the ledger's next write (up to
        ``flush_s`` later) let the bot lease the account again meanwhile, as often as it failed in that time. A
        database error is logged, never raised (it must not fail the bot's step); the ledger's next write applies
        the rule again."""
        try:
            self._check_account(account_id)
        except (SQLAlchemyError, EmufleetError) as exc:
            _log.warning("account %s: the account rule is left to the ledger's next write: %s", account_id, exc)

    def _check_account(self, account_id: int) -> None:
        reason = account_verdict(self.engine, account_id, self.settings)
        if reason is None:
            return
        with self.engine.begin() as conn:  # an account in use is marked when its bot has returned it
            conn.execute(update(Account).where(Account.id == account_id, Account.lease_token.is_(None))
                         .values(pool_status="failed", last_error=reason))
        if quarantine(self.engine, "account", str(account_id), reason):
            _log.warning("account %s marked failed: %s", account_id, reason)
            self._notify("account", str(account_id))

    def _notify(self, kind: str, subject: str) -> None:
        if self.notify is None:
            return
        entry = next((q for q in active(self.engine, kind) if q.subject == subject), None)
        if entry is not None:
            self.notify(entry)
