"""Throughput series for the dashboard (``GET /api/stats``): what the farm did per bucket of time.

Sources, both kept across restarts in emufleet's database: ``fleet_events`` (the ledger: accounts completed and
failed, steps, recoveries by rung, give-ups, stuck — each with its group, host and instance) and
``account_results`` (the statistics routines record on accounts: packs, cards, stars, keeps — filtered by group
through the launch that leased the account, and by host and instance through the lease's ``host/serial``).

Windows: ``hour`` (5-minute buckets), ``day`` (hourly), ``week`` (6-hour buckets). Rates are per hour for accounts
and statistics and per second for steps, so a chart reads the same at every window.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, func, or_, select

from emufleet.db.engine import utcnow
from emufleet.db.models import AccountResultRecord, FleetEvent, LaunchRecord
from emufleet.errors import InputError

__all__ = ["METRICS", "WINDOWS", "PoolForecast", "Series", "StatsFilter", "forecast", "series"]

#: window name → (span, bucket)
WINDOWS: dict[str, tuple[timedelta, timedelta]] = {
    "hour": (timedelta(hours=1), timedelta(minutes=5)),
    "day": (timedelta(days=1), timedelta(hours=1)),
    "week": (timedelta(days=7), timedelta(hours=6)),
}

#: metric → (unit, source)
METRICS: dict[str, str] = {
    "accounts_completed": "per hour",
    "accounts_failed": "per hour",
    "packs_opened": "per hour",
    "cards_found": "per hour",
    "stars_total": "per hour",
    "keep_count": "per hour",
    "steps_per_s": "per second",
    "recoveries": "per hour",
    "gave_up": "per hour",
    "stuck": "per hour",
}
_LEDGER = {"accounts_completed": "account.completed", "accounts_failed": "account.failed", "steps_per_s": "steps",
           "recoveries": "bot.recovering", "gave_up": "bot.gave-up", "stuck": "bot.stuck"}
_RESULT_COLUMNS = ("packs_opened", "cards_found", "stars_total", "keep_count")


@dataclass(frozen=True, slots=True)
class StatsFilter:
    """Which part of the farm: a group, a host, an instance (``host/serial``); ``None`` means all."""

    group: str | None = None
    host: str | None = None
    instance: str | None = None


@dataclass(frozen=True, slots=True)
class Series:
    """One metric over a window: ``values[i]`` is the rate in the bucket starting at ``start + i·bucket``.

    ``breakdown`` splits a metric by a key where one exists (recoveries by rung), each list aligned with ``values``.
    """

    metric: str
    unit: str
    start: datetime
    bucket_s: float
    values: list[float]
    breakdown: dict[str, list[float]]

    def times(self) -> list[datetime]:
        return [self.start + timedelta(seconds=self.bucket_s * i) for i in range(len(self.values))]

    def total(self) -> float:
        """The metric's count over the window (rates back to events)."""
        per = 1.0 if self.unit == "per second" else 3600.0
        return sum(v * self.bucket_s / per for v in self.values)


def _window(window: str, now: datetime) -> tuple[datetime, timedelta, int]:
    try:
        span, bucket = WINDOWS[window]
    except KeyError:
        raise InputError(f"window {window!r}: expected one of {', '.join(WINDOWS)}", field="window") from None
    n = int(span / bucket)
    # buckets aligned to the bucket size, so two reads a minute apart agree on past buckets
    return _align(now, bucket) - bucket * n, bucket, n


def _epoch(value: datetime) -> float:
    return (value - datetime(1970, 1, 1)).total_seconds()


def _align(now: datetime, bucket: timedelta) -> datetime:
    """The end of the bucket holding ``now`` (naive UTC, buckets aligned to the epoch)."""
    bucket_s = bucket.total_seconds()
    return datetime(1970, 1, 1) + timedelta(seconds=math.floor(_epoch(now) / bucket_s) * bucket_s) + bucket


def _ledger_rows(engine: Engine, kinds: Iterable[str], start: datetime, where: StatsFilter
                 ) -> Sequence[tuple[datetime, str, str | None, int]]:
    query = select(FleetEvent.at, FleetEvent.kind, FleetEvent.rung, FleetEvent.count).where(
        FleetEvent.at >= start, FleetEvent.kind.in_(list(kinds)))
    if where.group is not None:
        query = query.where(FleetEvent.group_name == where.group)
    if where.host is not None:
        query = query.where(FleetEvent.host == where.host)
    if where.instance is not None:
        query = query.where(FleetEvent.instance == where.instance)
    with engine.connect() as conn:
        return [(r[0], r[1], r[2], int(r[3])) for r in conn.execute(query)]


def _result_rows(engine: Engine, start: datetime, where: StatsFilter) -> Sequence[tuple[datetime, ...]]:
    cols = [getattr(AccountResultRecord, c) for c in _RESULT_COLUMNS]
    query = select(AccountResultRecord.recorded_at, *cols).where(AccountResultRecord.recorded_at >= start)
    if where.group is not None:
        query = query.join(LaunchRecord, and_(LaunchRecord.launch_id == AccountResultRecord.lease_owner,
                                              LaunchRecord.group_name == where.group))
    # A lease records its instance as ``host/serial``; rows written before it recorded the bare serial, whose host
    # is found through the ledger (the serials that host's bots used).
    serial_of = func.substr(FleetEvent.instance, func.length(FleetEvent.host) + 2)
    column = AccountResultRecord.lease_instance
    if where.instance is not None:
        host, _, serial = where.instance.rpartition("/")
        legacy = column == serial
        if host:
            legacy = and_(legacy, column.in_(select(serial_of).where(FleetEvent.host == host).distinct()))
        query = query.where(or_(column == where.instance, legacy))
    elif where.host is not None:
        prefix = where.host + "/"
        query = query.where(or_(func.substr(column, 1, len(prefix)) == prefix, column.in_(
            select(serial_of).where(FleetEvent.host == where.host).distinct())))
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query)]


def series(engine: Engine, metrics: Sequence[str], window: str = "day", *, where: StatsFilter | None = None,
           now: datetime | None = None) -> dict[str, Series]:
    """The ``metrics`` (names of :data:`METRICS`) over ``window`` (a name of :data:`WINDOWS`) ending at ``now``
    (naive UTC; default: the database clock's notion, :func:`~emufleet.db.utcnow`).

    Raises:
        InputError: an unknown metric or window.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise InputError(f"unknown metric(s) {', '.join(map(repr, unknown))}: expected {', '.join(METRICS)}",
                         field="metric")
    where = where or StatsFilter()
    start, bucket, n = _window(window, now or utcnow())
    bucket_s = bucket.total_seconds()
    counts = {m: [0.0] * n for m in metrics}
    rungs: dict[str, list[float]] = {}

    def slot(at: datetime) -> int | None:
        i = int((at - start).total_seconds() // bucket_s)
        return i if 0 <= i < n else None

    by_kind = {_LEDGER[m]: m for m in metrics if m in _LEDGER}
    if by_kind:
        for at, kind, rung, count in _ledger_rows(engine, by_kind, start, where):
            i = slot(at)
            if i is None:
                continue
            metric = by_kind[kind]
            counts[metric][i] += count
            if metric == "recoveries":
                rungs.setdefault(rung or "?", [0.0] * n)[i] += count
    wanted = [c for c in _RESULT_COLUMNS if c in metrics]
    if wanted:
        for row in _result_rows(engine, start, where):
            i = slot(row[0])
            if i is None:
                continue
            for col, value in zip(_RESULT_COLUMNS, row[1:], strict=True):
                if col in counts and value is not None:
                    counts[col][i] += float(value)  # type: ignore[arg-type]  # an integer column
    out = {}
    for metric in metrics:
        unit = METRICS[metric]
        scale = 1.0 / bucket_s if unit == "per second" else 3600.0 / bucket_s
        breakdown = {k: [v * scale for v in vs] for k, vs in sorted(rungs.items())} if metric == "recoveries" else {}
        out[metric] = Series(metric, unit, start, bucket_s, [v * scale for v in counts[metric]], breakdown)
    return out


@dataclass(frozen=True, slots=True)
class PoolForecast:
    """A pool's accounts left and when they run out at the last hour's rate (``eta_s`` ``None``: no rate)."""

    pool: str
    remaining: int
    per_hour: float
    eta_s: float | None


def forecast(engine: Engine, pool: str, remaining: int, *, now: datetime | None = None,
             over: timedelta = timedelta(hours=1)) -> PoolForecast:
    """``pool``'s forecast: ``remaining`` accounts (the caller counts them: ``available`` members) at the rate of
    accounts completed or failed from it over the last ``over``."""
    since = (now or utcnow()) - over
    with engine.connect() as conn:
        done = conn.execute(select(func.count()).select_from(AccountResultRecord).where(
            AccountResultRecord.pool_name == pool, AccountResultRecord.recorded_at >= since,
            AccountResultRecord.outcome.in_(("completed", "failed")))).scalar_one()
    per_hour = int(done) * 3600.0 / over.total_seconds()
    return PoolForecast(pool, remaining, per_hour, remaining / per_hour * 3600.0 if per_hour > 0 else None)
