"""Stuck detection with a fake clock: no progress for stuck_after_s, click loops over the last 15 taps."""

from __future__ import annotations

import pytest

from emufleet.bot import ClickLoopDetector, StuckDetector, StuckReason, StuckVerdict


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_no_progress_after_the_limit(clock: Clock) -> None:
    stuck = StuckDetector(stuck_after_s=60.0, clock=clock)
    clock.now += 59.9
    assert stuck.check() is None
    clock.now += 0.1
    verdict = stuck.check()
    assert isinstance(verdict, StuckVerdict) and verdict.reason is StuckReason.NO_PROGRESS
    assert verdict.message == "no step completed and no input sent for 60 s (limit 60 s)"
    assert verdict.details["idle_s"] == 60.0 and verdict.details["last_step"] is None
    assert stuck.check() is not None  # it repeats until the bot moves
    assert verdict.to_dict()["reason"] == "no_progress"


def test_a_step_or_an_input_each_restart_the_count(clock: Clock) -> None:
    stuck = StuckDetector(stuck_after_s=30.0, clock=clock)
    clock.now += 25
    stuck.progress("steps[0]")
    clock.now += 25
    stuck.input_sent()
    clock.now += 25
    assert stuck.check() is None and stuck.idle_s() == 25
    clock.now += 5
    verdict = stuck.check()
    assert verdict is not None and verdict.details["since_step_s"] == 55 and verdict.details["since_input_s"] == 30
    assert "after steps[0]" in verdict.message


def test_a_step_may_allow_a_longer_wait(clock: Clock) -> None:
    stuck = StuckDetector(clock=clock)
    clock.now += 90
    assert stuck.check(stuck_after_s=120) is None
    assert stuck.check() is not None
    assert stuck.check(stuck_after_s=30) is not None
    with pytest.raises(ValueError, match="> 0"):
        stuck.check(stuck_after_s=0)
    with pytest.raises(ValueError):
        StuckDetector(stuck_after_s=-1)


def test_paused_time_is_not_idle(clock: Clock) -> None:
    stuck = StuckDetector(stuck_after_s=60.0, clock=clock)
    clock.now += 50
    stuck.pause()
    clock.now += 600
    assert stuck.check() is None and stuck.idle_s() == 50
    stuck.resume()
    clock.now += 9
    assert stuck.check() is None
    clock.now += 1
    assert stuck.check() is not None
    stuck.reset()
    assert stuck.check() is None and stuck.idle_s() == 0


def test_explicit_times_need_no_clock() -> None:
    stuck = StuckDetector(stuck_after_s=10, clock=lambda: 0.0)
    stuck.progress(now=100.0)
    assert stuck.check(now=109.0) is None
    assert stuck.check(now=110.0) is not None


def test_one_target_twelve_times_in_fifteen() -> None:
    loop = ClickLoopDetector()
    taps = [(270, 480)] * 3 + [(100, 100), (400, 800), (30, 30)] + [(272, 478)] * 8
    assert [loop.tap(x, y) for x, y in taps] == [None] * len(taps)  # 11 of the button so far
    verdict = loop.tap(268, 482)  # the 12th, within the radius
    assert verdict is not None and verdict.reason is StuckReason.CLICK_LOOP
    assert verdict.message == "(270, 480) tapped 12 times in the last 15 taps"
    assert verdict.details["targets"]["(270, 480)"] == 12
    assert loop.tap(270, 480) is None  # the record restarted: one loop, one verdict


def test_the_window_forgets_old_taps() -> None:
    loop = ClickLoopDetector()
    for i in range(40):  # 11 of the same target in every 15, never 12
        x, y = (270, 480) if i % 15 < 11 else (50 + 30 * i, 900)
        assert loop.tap(x, y) is None


def test_two_targets_six_times_each() -> None:
    loop = ClickLoopDetector()
    verdicts = [loop.tap(*((100, 100) if i % 2 else (400, 400))) for i in range(12)]
    assert verdicts[:11] == [None] * 11
    last = verdicts[11]
    assert last is not None and last.details["targets"] == {"(400, 400)": 6, "(100, 100)": 6}
    assert "tapped 6 and 6 times" in last.message


def test_targets_by_name_and_radius() -> None:
    loop = ClickLoopDetector(radius_px=5)
    assert all(loop.tap(100 + 10 * i, 100) is None for i in range(15))  # 10 px apart: 15 targets
    named = ClickLoopDetector(window=4, single=3, pair=2)
    assert named.tap(10, 10, target="OK") is None
    assert named.tap(300, 700, target="OK") is None  # the same template wherever it was matched
    assert named.tap(50, 50) is None
    verdict = named.tap(11, 11, target="OK")
    assert verdict is not None and verdict.details["targets"]["template OK"] == 3


def test_bad_click_loop_settings() -> None:
    with pytest.raises(ValueError, match="fit in window"):
        ClickLoopDetector(window=10, single=12)
    with pytest.raises(ValueError, match="fit in window"):
        ClickLoopDetector(window=10, single=8, pair=6)
    with pytest.raises(ValueError):
        ClickLoopDetector(pair=0)
