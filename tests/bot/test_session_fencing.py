"""Fencing in the engine's bot session, on the simulator through the real adb server, without Prefect: no input
reaches the device once the lock's fence closes, another holder stops the bot, a re-acquired lock resumes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.bot import Fence
from emufleet.groups import BotState
from emufleet.routines import RoutineRegistry

from .harness import Recorder, _in_game, _run, _spec

pytestmark = pytest.mark.slow


class FakeLease:
    """An instance lease whose fence is never renewed (its server went away); re-acquisition is scripted."""

    def __init__(self, serial: str, *, lease_s: float, margin_s: float, reacquire: bool) -> None:
        self.fence = Fence(serial, lease_s=lease_s, margin_s=margin_s)
        self.answer = reacquire
        self.asked = 0

    async def reacquire(self) -> bool:
        self.asked += 1
        if self.answer:  # a fresh lease that outlives the test
            self.fence.reacquired(time.monotonic() + 60.0)
        return self.answer


def _tapper(routines) -> RoutineRegistry:  # noqa: ANN001
    return routines({"t/tap": """
        version: 1
        routine_name: taps for a while
        steps:
          - action: Repeat
            iterations: 30
            actions:
              - {action: Click, x: 10, y: 100}
              - {action: Click, x: 200, y: 100}
              - {action: Click, x: 100, y: 400}
              - {action: Sleep, duration: 100ms}
        """})


def test_fencing_no_input_after_the_fence_closes_and_another_holder_stops_the_bot(
        simulator: Callable[..., Any], routines, tmp_path: Path) -> None:
    inst = _in_game(simulator)
    lease = FakeLease(inst.serial, lease_s=2.0, margin_s=0.5, reacquire=False)
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/tap"),
                  _tapper(routines), rec, tmp_path, lease=lease)
    closed_at = time.time() - (time.monotonic() - lease.fence._open_until)  # wall time the fence closed
    taps = [e.t for e in inst.events if e.kind == "tap"]
    assert taps, "the bot tapped while it held the lock"
    assert max(taps) < closed_at + 0.05, "no input reached the device after the fence closed"
    assert lease.asked >= 1
    assert result.state is BotState.STOPPED
    lost = [e for e in rec.events if e.kind == "bot.lock-lost"]
    assert lost and lost[-1].payload["reacquired"] is False


def test_fencing_a_reacquired_lock_resumes_the_routine(simulator: Callable[..., Any], routines,
                                                      tmp_path: Path) -> None:
    inst = _in_game(simulator)
    lease = FakeLease(inst.serial, lease_s=2.0, margin_s=0.5, reacquire=True)
    rec = Recorder()
    result = _run(_spec(inst.serial, "t/tap"),
                  _tapper(routines), rec, tmp_path, lease=lease)
    assert lease.asked >= 1
    assert result.state is BotState.COMPLETED, rec.kinds()
    assert result.recoveries.get("reacquire_lock", 0) >= 1


def test_a_renewal_sent_after_the_lease_could_have_expired_does_not_reopen_the_fence() -> None:
    now = [100.0]
    fence = Fence("s", lease_s=60.0, margin_s=15.0, clock=lambda: now[0])
    now[0] = 130.0
    fence.renewed(130.0)  # in time: open until 130 + 45
    now[0] = 200.0
    fence.renewed(200.0)  # 70 s after the last good renewal: the lease may be another's by now
    now[0] = 201.0
    assert not fence.is_open, "a late renewal does not resurrect the lease"
    fence.reacquired(201.0)
    assert fence.is_open
    # sent in time (the lease ran until 201 + 60), answered after it ended: the client retried it through an outage
    now[0] = 280.0
    fence.renewed(255.0)
    now[0] = 281.0
    assert not fence.is_open, "a renewal answered after the lease ended does not resurrect it"
