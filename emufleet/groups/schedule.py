"""Daily schedule windows of a group: when its bots may play, and the game's daily reset (docs/farm.md).

In a group file::

    schedule:
      timezone: Europe/Paris            # an IANA zone; the windows and the reset are wall-clock times there
      windows: ["06:30-12:00", "18:00-02:00"]   # HH:MM-HH:MM; a window may cross midnight
      daily_reset: "06:00"              # the game's daily reset (optional)
      margin: 10m                       # stop taking accounts this long before a window closes or the reset

The emulators a launch started are stopped when it ends (``launch.stop_instances: started``, the default), so a
window's launch leaves the machine as it found it.

A launch from the schedule starts at a window's opening (:meth:`Schedule.cron_schedules`: one Prefect cron
schedule per window, in its time zone). While it runs, :meth:`Schedule.gate` tells its bots whether they may take
another account: not outside a window, and not within ``margin`` of the window's end or of the next reset. A bot
told no finishes the account in hand and ends, so the launch ends before the window closes.

All times are passed in (``now``, aware): the rules are pure and tested against a fake clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator

from emufleet.boundary import YamlValue
from emufleet.durations import DurationS0

__all__ = ["OpenWindow", "Schedule", "WindowSpec", "parse_clock"]

_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_WINDOW = re.compile(r"^\s*(\S+)\s*-\s*(\S+)\s*$")


def parse_clock(text: str) -> time:
    """``"06:30"`` → ``time(6, 30)``.

    Raises:
        ValueError: not ``HH:MM`` on a 24-hour clock.
    """
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a time of day: write HH:MM on a 24-hour clock, e.g. '06:30'")
    return time(int(match[1]), int(match[2]))


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One daily window, ``start``–``end`` wall-clock; ``end <= start`` crosses midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: YamlValue) -> WindowSpec:
        """``"18:00-02:00"`` → a window.

        Raises:
            ValueError: not ``HH:MM-HH:MM``, or empty (start = end).
        """
        if isinstance(text, WindowSpec):
            return text
        match = _WINDOW.match(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"{text!r} is not a window: write 'HH:MM-HH:MM', e.g. '18:00-02:00'")
        start, end = parse_clock(match[1]), parse_clock(match[2])
        if start == end:
            raise ValueError(f"{text!r} is an empty window (it opens and closes at {start:%H:%M})")
        return cls(start, end)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, slots=True)
class OpenWindow:
    """A window as it happens on a given day: ``opens``/``closes`` aware, in UTC."""

    spec: WindowSpec
    opens: datetime
    closes: datetime


def _utc(value: datetime) -> datetime:
    """``value`` in UTC: aware times with one tzinfo compare and subtract as wall clocks (PEP 495), which is wrong
    across a daylight-saving change; in UTC they are exact."""
    return value.astimezone(UTC)


def _clock(value: time) -> str:
    return f"{value:%H:%M}"


class Schedule(BaseModel):
    """A group's ``schedule:`` block (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    timezone: str = "UTC"
    # serialized as written (``"18:00-02:00"``, ``"06:00"``), so a saved definition loads again
    windows: list[Annotated[WindowSpec, BeforeValidator(WindowSpec.parse), PlainSerializer(str)]] = Field(
        default_factory=list, max_length=48)
    daily_reset: Annotated[time, BeforeValidator(parse_clock), PlainSerializer(_clock)] | None = None
    margin: DurationS0 = Field(default=300.0, ge=0, le=86400)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}: use an IANA name such as 'Europe/Paris' or 'UTC'"
                             ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def _local(self, value: datetime) -> datetime:
        return value.astimezone(self.zone)

    def _occurrences(self, now: datetime) -> list[OpenWindow]:
        """Each window as it happens yesterday, today and tomorrow (local days), in order of opening."""
        local = now.astimezone(self.zone)
        out = []
        for day in (-1, 0, 1):
            date = (local + timedelta(days=day)).date()
            for spec in self.windows:
                opens = _utc(datetime.combine(date, spec.start, self.zone))
                closes = _utc(datetime.combine(date if spec.end > spec.start else date + timedelta(days=1),
                                               spec.end, self.zone))
                out.append(OpenWindow(spec, opens, closes))
        return sorted(out, key=lambda w: w.opens)

    def window_at(self, now: datetime) -> OpenWindow | None:
        """The window open at ``now`` (aware), or ``None``; with no windows declared, ``None`` too."""
        return next((w for w in self._occurrences(now) if w.opens <= now < w.closes), None)

    def next_opening(self, now: datetime) -> datetime | None:
        """When the next window opens after ``now`` (``None`` when none is declared)."""
        return next((w.opens for w in self._occurrences(now) if w.opens > now), None)

    def next_reset(self, now: datetime) -> datetime | None:
        """The next daily reset after ``now`` (aware), or ``None`` without one."""
        if self.daily_reset is None:
            return None
        local = now.astimezone(self.zone)
        reset = _utc(datetime.combine(local.date(), self.daily_reset, self.zone))
        return reset if reset > now else _utc(datetime.combine(local.date() + timedelta(days=1), self.daily_reset,
                                                               self.zone))

    def deadline(self, now: datetime) -> datetime | None:
        """When play must be over: the open window's close or the next reset, whichever comes first (``None``: no
        limit)."""
        window = self.window_at(now)
        ends = [t for t in (window.closes if window else None, self.next_reset(now)) if t is not None]
        return min(ends) if ends else None

    def gate(self, now: datetime) -> str | None:
        """Why a bot may not take another account at ``now`` (aware), or ``None`` when it may."""
        if self.windows and self.window_at(now) is None:
            opening = self.next_opening(now)
            return (f"outside the schedule's windows (next opens {self._local(opening):%Y-%m-%d %H:%M %Z})"
                    if opening else "outside the schedule's windows")
        deadline = self.deadline(now)
        if deadline is not None and now >= deadline - timedelta(seconds=self.margin):
            what = "reset" if deadline == self.next_reset(now) else "window closes"
            when = f"{self._local(deadline):%H:%M %Z}"
            return (f"the daily reset comes at {when}, within the {self.margin:g} s margin" if what == "reset"
                    else f"the window closes at {when}, within the {self.margin:g} s margin")
        return None

    def cron_schedules(self) -> list[tuple[str, str]]:
        """One ``(cron, timezone)`` per window, firing at its opening every day (Prefect ``CronSchedule``)."""
        return [(f"{w.start.minute} {w.start.hour} * * *", self.timezone) for w in self.windows]

    def describe(self) -> str:
        """One line for ``groups show`` and the console."""
        parts = [", ".join(map(str, self.windows)) or "any time", self.timezone]
        if self.daily_reset is not None:
            parts.append(f"reset {self.daily_reset:%H:%M}")
        parts.append(f"margin {self.margin:g} s")
        return "; ".join(parts)
