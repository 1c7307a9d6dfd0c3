"""Structured pool filters → SQLAlchemy expressions over a column whitelist (digest §5.2, fixing its defects).

The seed pasted ``column`` and ``comparator`` into SQL text (an injection surface), bound every ``value`` as one
string (so ``IN`` could not take a list and ``datetime('now','-7 days')`` was compared as a literal) and accepted
columns that do not exist. Here:

* ``column`` must be in :data:`COLUMNS` (the seed's example names ``level``, ``wonder_picks`` and
  ``stamina_recovery_at`` are accepted as aliases of the real columns, :data:`ALIASES`);
* ``comparator`` is one of :data:`COMPARATORS` (case-insensitive);
* ``value`` is converted to the column's type and always bound: integers, booleans (``0/1/true/false``), text,
  and times (ISO ``2025-01-31[T12:00[:00]]``, ``now``, ``now-7d``/``-7 days``, or SQLite's ``datetime('now',
  '-7 days')`` form, computed in Python at query time so it means the same on every backend);
* ``IN``/``NOT IN`` take a YAML list; ``IS NULL``/``IS NOT NULL`` take no value; ``LIKE`` applies to text.

Every function raises ``ValueError`` with a message meant for a located ``PoolValidationError``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import ColumnElement, func, not_

from emufleet.boundary import SqlColumn, SqlOrderTerm, YamlValue
from emufleet.db import Account

__all__ = ["ALIASES", "COLUMNS", "COMPARATORS", "INT_RANGE", "MAX_IN_VALUES", "SORT_METHODS", "Comparator",
           "RelativeTime", "SortMethod", "column_for", "filter_expression", "normalise_comparator", "parse_value",
           "sort_method_order"]

Kind = Literal["int", "bool", "text", "time"]
Comparator = Literal["=", "!=", ">", ">=", "<", "<=", "LIKE", "NOT LIKE", "IN", "NOT IN", "IS NULL", "IS NOT NULL"]
COMPARATORS: tuple[str, ...] = ("=", "!=", ">", ">=", "<", "<=", "LIKE", "NOT LIKE", "IN", "NOT IN", "IS NULL",
                                "IS NOT NULL")

_INT: Kind = "int"
_BOOL: Kind = "bool"
_TEXT: Kind = "text"
_TIME: Kind = "time"
COLUMNS: dict[str, tuple[SqlColumn, Kind]] = {
    "id": (Account.id, _INT),
    "device_account": (Account.device_account, _TEXT),
    "username": (Account.username, _TEXT),
    "friend_code": (Account.friend_code, _TEXT),
    "shinedust": (Account.shinedust, _INT),
    "hourglasses": (Account.hourglasses, _INT),
    "pokegold": (Account.pokegold, _INT),
    "pack_points": (Account.pack_points, _INT),
    "packs_opened": (Account.packs_opened, _INT),
    "wonder_picks_done": (Account.wonder_picks_done, _INT),
    "account_level": (Account.account_level, _INT),
    "created_at": (Account.created_at, _TIME),
    "last_used_at": (Account.last_used_at, _TIME),
    "stamina_recovery_time": (Account.stamina_recovery_time, _TIME),
    "is_active": (Account.is_active, _BOOL),
    "is_banned": (Account.is_banned, _BOOL),
    "notes": (Account.notes, _TEXT),
    "pool_status": (Account.pool_status, _TEXT),
    "failure_count": (Account.failure_count, _INT),
    "last_error": (Account.last_error, _TEXT),
    "completed_at": (Account.completed_at, _TIME),
}
"""Columns a pool may filter and sort on, with their value kind. Secrets and lease columns are not listed."""

ALIASES = {"level": "account_level", "wonder_picks": "wonder_picks_done",
           "stamina_recovery_at": "stamina_recovery_time"}
"""The seed's names for real columns (digest §5.2: its example names columns that do not exist)."""

SortMethod = Literal["", "packs_asc", "packs_desc", "modified_asc", "modified_desc", "random"]
SORT_METHODS: tuple[str, ...] = get_args(SortMethod)
"""``config.sort_method`` values (digest §5.2); the seed validated them but never applied them."""

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600,
          "d": 86400, "day": 86400, "w": 604800, "week": 604800}
_OFFSET = r"([+-])\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?"
_RELATIVE = re.compile(rf"^(?:now)?\s*(?:{_OFFSET})?$")
_MAX_OFFSET_S = 100 * 365.25 * 86400  # a relative time stays within a century of now (and of datetime's range)
MAX_IN_VALUES = 1000
"""Most values an ``IN``/``NOT IN`` filter may list (each is a bound parameter)."""
INT_RANGE = (-(2**63), 2**63 - 1)
"""Integer values a filter accepts: what SQLite and PostgreSQL ``BIGINT`` store (a larger one overflows a query)."""
_SQLITE_DATETIME = re.compile(r"^datetime\(\s*'now'\s*(?:,\s*'([^']*)'\s*)?\)$")


@dataclass(frozen=True, slots=True)
class RelativeTime:
    """A time relative to the moment the query runs: ``now + offset``."""

    offset: timedelta

    def at(self, now: datetime) -> datetime:
        return now + self.offset


def column_for(name: str) -> tuple[str, SqlColumn, Kind]:
    """Resolve a column name (or seed alias) to ``(real name, column, kind)``; ``ValueError`` if not whitelisted."""
    if not isinstance(name, str):
        raise ValueError(f"column must be a string, got {type(name).__name__}")
    real = ALIASES.get(name, name)
    if real not in COLUMNS:
        raise ValueError(f"unknown column {name!r}; allowed: {', '.join(sorted(COLUMNS))}")
    column, kind = COLUMNS[real]
    return real, column, kind


def normalise_comparator(text: str) -> str:
    """Upper-case and collapse spaces; ``ValueError`` if not one of :data:`COMPARATORS`."""
    if not isinstance(text, str):
        raise ValueError(f"comparator must be a string, got {type(text).__name__}")
    norm = " ".join(text.split()).upper()
    if norm == "<>":
        norm = "!="
    if norm not in COMPARATORS:
        raise ValueError(f"unknown comparator {text!r}; allowed: {', '.join(COMPARATORS)}")
    return norm


def _naive_utc(value: datetime) -> datetime:
    """Stored times are naive UTC; an aware time is converted, a naive one is taken as UTC."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def _parse_time(raw: YamlValue) -> datetime | RelativeTime:
    try:
        return _parse_time_unchecked(raw)
    except OverflowError:  # an aware time at the edge of datetime's range (0001-01-01T00:00+01:00)
        raise ValueError(f"{raw!r:.40} is outside the range of times") from None


def _parse_time_unchecked(raw: YamlValue) -> datetime | RelativeTime:
    if isinstance(raw, datetime):
        return _naive_utc(raw)
    if isinstance(raw, date):
        return datetime(raw.year, raw.month, raw.day)
    text = str(raw).strip().lower()
    sqlite = _SQLITE_DATETIME.match(text)
    if sqlite:
        text = "now" + (sqlite.group(1) or "")
    rel = _RELATIVE.match(text) if text else None
    if rel and text:
        sign, amount, unit = rel.groups()
        if sign is None:
            return RelativeTime(timedelta(0))
        if unit not in _UNITS:
            raise ValueError(f"unknown time unit {unit!r} in {raw!r}; use s, min, h, d or w")
        seconds = float(amount) * _UNITS[unit] * (-1 if sign == "-" else 1)
        if not abs(seconds) <= _MAX_OFFSET_S:
            raise ValueError(f"{raw!r:.40} is more than 100 years from now")
        return RelativeTime(timedelta(seconds=seconds))
    try:
        return _naive_utc(datetime.fromisoformat(str(raw).strip()))
    except ValueError:
        raise ValueError(f"{raw!r} is not a time: use ISO 2025-01-31T12:00, 'now', or 'now-7d'") from None


def _parse_scalar(raw: YamlValue, kind: Kind, column: str) -> YamlValue:
    if raw is None:
        raise ValueError(f"a value is required for column {column!r}")
    if kind == "int":
        if isinstance(raw, bool) or not re.fullmatch(r"\s*-?\d+\s*", str(raw)):
            raise ValueError(f"{column} is an integer column; {raw!r:.40} is not an integer")
        text = str(raw).strip()
        if len(text.lstrip("-")) > 19 or not INT_RANGE[0] <= int(text) <= INT_RANGE[1]:
            raise ValueError(f"{column} is an integer column; {text:.40} is outside the 64-bit range")
        return int(text)
    if kind == "bool":
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes"):
            return True
        if text in ("0", "false", "no"):
            return False
        raise ValueError(f"{column} is a 0/1 column; {raw!r} is not 0, 1, true or false")
    if kind == "time":
        return _parse_time(raw)
    if isinstance(raw, list | dict):
        raise ValueError(f"{column} is a text column; expected a single value")
    return str(raw)


def parse_value(column: str, comparator: str, raw: YamlValue) -> YamlValue:
    """Typed value for ``column comparator raw``: a scalar, a tuple for IN/NOT IN, ``None`` for IS [NOT] NULL."""
    real, _, kind = column_for(column)
    if comparator in ("IS NULL", "IS NOT NULL"):
        if raw not in (None, ""):
            raise ValueError(f"{comparator} takes no value")
        return None
    if comparator in ("LIKE", "NOT LIKE") and kind != "text":
        raise ValueError(f"{comparator} applies to text columns; {real} is {kind}")
    if comparator in (">", ">=", "<", "<=") and kind == "bool":
        raise ValueError(f"{comparator} does not apply to the 0/1 column {real}")
    if comparator in ("IN", "NOT IN"):
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"{comparator} takes a non-empty list, e.g. value: [available, skipped]")
        if len(raw) > MAX_IN_VALUES:  # each is a bound parameter; SQLite allows 32,766 per statement
            raise ValueError(f"{comparator} takes at most {MAX_IN_VALUES:,} values, got {len(raw):,}")
        return tuple(_parse_scalar(item, kind, real) for item in raw)
    if isinstance(raw, list):
        raise ValueError(f"{comparator} takes a single value; use IN for a list")
    return _parse_scalar(raw, kind, real)


def _bind(value: YamlValue, now: datetime) -> YamlValue:
    return value.at(now) if isinstance(value, RelativeTime) else value


def filter_expression(column: str, comparator: str, value: YamlValue, now: datetime) -> ColumnElement[bool]:
    """The SQLAlchemy expression for a validated filter; relative times are resolved against ``now``."""
    _, col, _ = column_for(column)
    if comparator == "IS NULL":
        return col.is_(None)
    if comparator == "IS NOT NULL":
        return col.is_not(None)
    if comparator in ("IN", "NOT IN"):
        values = [_bind(v, now) for v in value]
        return col.in_(values) if comparator == "IN" else not_(col.in_(values))
    bound = _bind(value, now)
    ops = {"=": col.__eq__, "!=": col.__ne__, ">": col.__gt__, ">=": col.__ge__, "<": col.__lt__,
           "<=": col.__le__, "LIKE": col.like, "NOT LIKE": col.not_like}
    return ops[comparator](bound)


def sort_method_order(method: str) -> list[SqlOrderTerm]:
    """ORDER BY terms for ``config.sort_method``; ``""`` means the pool's own resolution order (empty list)."""
    if method == "packs_asc":
        return [Account.packs_opened.asc()]
    if method == "packs_desc":
        return [Account.packs_opened.desc()]
    if method == "modified_asc":  # least recently used first; never-used accounts before all others
        return [Account.last_used_at.asc().nulls_first()]
    if method == "modified_desc":
        return [Account.last_used_at.desc().nulls_last()]
    if method == "random":
        return [func.random()]
    if method == "":
        return []
    raise ValueError(f"unknown sort_method {method!r}; allowed: {', '.join(repr(m) for m in SORT_METHODS)}")
