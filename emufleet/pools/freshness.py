"""When a pool was last resolved, as a time and as words (seed ``001_…`` "Pre-Launch Pool Refresh Prompt":
*Pool "Premium Farmers Pool" was last refreshed 5m ago*; the GUI's "Last Refresh" column).

The time is the ``pools.refreshed_at`` row every refresh stamps (:meth:`emufleet.pools.Pool.refresh`), so any
process sees the refreshes of every other: a launch's background refresh, ``emufleet pools refresh``, the console.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, select

from emufleet.db import PoolRecord, utcnow

__all__ = ["describe_freshness", "format_age", "last_refreshed", "refreshed_ago"]


def last_refreshed(engine: Engine, pool_name: str) -> datetime | None:
    """When pool ``pool_name`` was last refreshed (naive UTC), or ``None`` if never."""
    with engine.connect() as conn:
        return conn.scalar(select(PoolRecord.refreshed_at).where(PoolRecord.name == pool_name))


_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def format_age(seconds: float) -> str:
    """A duration in its largest unit and the next: ``42s``, ``5m 3s``, ``3h 2m``, ``2d 4h`` (``<0`` → ``0s``)."""
    total = max(0, int(seconds))
    for i, (unit, size) in enumerate(_UNITS):
        if total >= size:
            text = f"{total // size}{unit}"
            if i + 1 < len(_UNITS):
                next_unit, next_size = _UNITS[i + 1]
                if rest := total % size // next_size:
                    text += f" {rest}{next_unit}"
            return text
    return "0s"


def refreshed_ago(when: datetime | None, *, now: datetime | None = None) -> str:
    """``"5m ago"`` for a refresh time (naive UTC, as :func:`last_refreshed` returns), ``"never"`` for ``None``."""
    if when is None:
        return "never"
    return f"{format_age(((now or utcnow()) - when).total_seconds())} ago"


def describe_freshness(pool_name: str, when: datetime | None, refresh_interval: float) -> str:
    """``pool 'demo' was last refreshed 5m ago; refreshes every 300 s while in use`` (or ``has never been
    refreshed``, ``manual refresh only``): the pre-launch words of the CLI and of the launch's log."""
    said = f"was last refreshed {refreshed_ago(when)}" if when else "has never been refreshed"
    auto = f"refreshes every {refresh_interval:g} s while in use" if refresh_interval else "manual refresh only"
    return f"pool {pool_name!r} {said}; {auto}"
