"""Schedule windows against a fake clock, and their validation in a group file (located errors)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select

from emufleet import db
from emufleet.bot import BotAccounts
from emufleet.errors import GroupValidationError, NoAccountsAvailable
from emufleet.groups import load_group
from emufleet.groups.schedule import Schedule
from emufleet.routines.accounts import AccountResult
from tests.pools.test_provider import DEVICE, provider

PARIS = ZoneInfo("Europe/Paris")


def _at(hh: int, mm: int, day: int = 7) -> datetime:
    return datetime(2026, 12, day, hh, mm, tzinfo=PARIS)


SCHEDULE = Schedule.model_validate({"timezone": "Europe/Paris", "windows": ["06:30-12:00", "18:00-02:00"],
                                    "daily_reset": "06:00", "margin": "10m"})


def test_windows_open_close_and_cross_midnight() -> None:
    assert SCHEDULE.window_at(_at(6, 29)) is None
    assert str(SCHEDULE.window_at(_at(6, 30)).spec) == "06:30-12:00"  # type: ignore[union-attr]
    assert SCHEDULE.window_at(_at(12, 0)) is None  # half-open: the close is outside
    night = SCHEDULE.window_at(_at(1, 0, day=8))
    assert night is not None and night.opens == _at(18, 0) and night.closes == _at(2, 0, day=8)  # aware: exact
    assert SCHEDULE.next_opening(_at(13, 0)) == _at(18, 0)
    assert SCHEDULE.cron_schedules() == [("30 6 * * *", "Europe/Paris"), ("0 18 * * *", "Europe/Paris")]


def test_the_gate_closes_a_margin_before_the_window_or_the_reset() -> None:
    assert SCHEDULE.gate(_at(11, 49)) is None
    why = SCHEDULE.gate(_at(11, 50))
    assert why is not None and "window closes at 12:00" in why
    assert "outside the schedule's windows (next opens 2026-12-07 18:00" in (SCHEDULE.gate(_at(13, 0)) or "")
    assert SCHEDULE.gate(_at(1, 49, day=8)) is None
    assert "window closes at 02:00" in (SCHEDULE.gate(_at(1, 51, day=8)) or "")
    early = Schedule.model_validate({"timezone": "Europe/Paris", "windows": ["04:00-09:00"], "daily_reset": "06:00",
                                     "margin": "5m"})
    assert early.gate(_at(5, 54)) is None
    assert "daily reset comes at 06:00" in (early.gate(_at(5, 56)) or "")
    assert early.gate(_at(6, 1)) is None  # after the reset the bots may play again until the window closes
    anytime = Schedule.model_validate({"daily_reset": "06:00", "margin": 60})  # UTC, no windows
    assert anytime.gate(datetime(2026, 12, 7, 5, 59, 30, tzinfo=UTC)) is not None
    assert anytime.gate(datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) is None


def test_daylight_saving_is_wall_clock() -> None:
    spring = Schedule.model_validate({"timezone": "Europe/Paris", "windows": ["01:00-04:00"]})
    window = spring.window_at(datetime(2027, 3, 28, 3, 30, tzinfo=PARIS))  # the night clocks go forward
    assert window is not None and (window.closes - window.opens).total_seconds() == 2 * 3600


@pytest.mark.parametrize(("block", "field", "message"), [
    ('{timezone: Mars/Olympus, windows: ["06:00-07:00"]}', "schedule.timezone", "unknown time zone"),
    ('{windows: ["6-7"]}', "schedule.windows[0]", "not a time of day"),
    ('{windows: ["07:00-07:00"]}', "schedule.windows[0]", "empty window"),
    ('{windows: ["06:00-07:00"], margin: soon}', "schedule.margin", ""),
    ('{windows: ["06:00-07:00"], daily_reset: "25:00"}', "schedule.daily_reset", "not a time of day"),
    ('{windows: ["06:00-07:00"], every: day}', "schedule.every", ""),
])
def test_a_bad_schedule_is_a_located_error(tmp_path: Path, block: str, field: str, message: str) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(f"version: 1\nname: g\nroutine: demo/reach_home\ninstances: [0]\nbots: 1\nschedule: {block}\n",
                    encoding="utf-8")
    with pytest.raises(GroupValidationError) as info:
        load_group(path)
    errors = getattr(info.value, "errors", None) or [info.value]
    located = [e for e in errors if getattr(e, "field", None) == field]
    assert located, [str(e) for e in errors]
    assert located[0].line == 6 and message in located[0].message


def test_a_schedule_round_trips_through_its_dump() -> None:
    dumped = SCHEDULE.model_dump(mode="json")
    assert dumped["windows"] == ["06:30-12:00", "18:00-02:00"] and dumped["daily_reset"] == "06:00"
    assert Schedule.model_validate(dumped) == SCHEDULE
    assert SCHEDULE.describe() == "06:30-12:00, 18:00-02:00; Europe/Paris; reset 06:00; margin 600 s"


def test_a_bot_finishes_the_account_in_hand_and_takes_no_other_once_the_gate_closes(db_engine: Engine,
                                                                                     make_accounts: Any) -> None:
    """The gate on a fake clock, through a bot's real accounts (a pool on the database): an account taken while the
    window is open is finished after the gate closes; the next one is refused with the reason."""
    make_accounts(3)
    clock = [_at(11, 40)]
    bot = BotAccounts([provider(db_engine)], gate=lambda: SCHEDULE.gate(clock[0]))
    taken = bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert taken is not None
    clock[0] = _at(11, 55)  # within the 10 min margin of the 12:00 close
    bot.complete(None, AccountResult(success=True))  # the account in hand is finished
    with pytest.raises(NoAccountsAvailable, match="window closes at 12:00"):
        bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="continue") is None
    with db_engine.connect() as conn:
        statuses = sorted(conn.scalars(select(db.Account.pool_status)))
    assert statuses == ["available", "available", "completed"] and bot.completed == 1
