"""The recovery ladder and the failure budget of a supervised bot (digest §9.7; seed ``003_…`` recovery strategies).

A **fault** is what supervision detected (stuck, a click loop, a frozen screen, an unhealthy instance) or a
device error a step raised. Each fault enters the ladder at the rung that can help it (:data:`ENTRY`) and
escalates through the rungs not yet tried in the same *incident* (faults of one kind with no completed step in between);
a rung that cannot act now (a recovery routine with ADB down) is skipped. Every fault spends the **failure
budget** (default 3 within 10 minutes); a spent budget, or a ladder with no rung left, is a give-up.

Rungs (``recovery.rungs``, in this order by default):

==================  =====================================================================================
``routine``         run the recovery routine (``recovery.routine``, the shipped ``recovery/go_home``)
``restart_app``     force-stop the game, re-inject the *same* account (its lease is kept), start the game
``restart_instance`` restart the emulator instance through its backend (or reboot it) and wait until ready
``reconnect``       reconnect ADB (disconnect, connect, wait until ready)
==================  =====================================================================================

An operator may also ask for one rung (the console's *Restart app* / *Restart instance*,
``emufleet groups restart-app``): :meth:`emufleet.bot.session.BotSession.request_recovery`. The session takes
exactly that rung at its next tick, as a recovery with reason ``operator`` that spends no failure budget; only
if the rung does not bring the bot back is it a fault, and the ladder takes over.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from emufleet.groups.supervision import ClickLoopSettings, FailureBudgetSettings, RecoverySettings, Rung

__all__ = ["ENTRY", "ClickLoopSettings", "FailureBudget", "FailureBudgetSettings", "Fault", "FaultKind",
           "Incident", "RecoverySettings", "Rung"]


#: Rungs that need a working ADB connection to act.
NEEDS_ADB = frozenset({Rung.ROUTINE, Rung.RESTART_APP})


class FaultKind(StrEnum):
    STUCK = "stuck"  # no step completed and no input for stuck_after
    CLICK_LOOP = "click_loop"  # the same targets tapped over and over
    STEP_TIMEOUT = "step_timeout"
    FROZEN_SCREEN = "frozen_screen"
    APP_NOT_FOREGROUND = "app_not_foreground"  # crashed, or another app on top
    BAD_FRAME = "bad_frame"  # black, truncated or undecodable captures
    NOT_BOOTED = "not_booted"
    ADB_DOWN = "adb_down"
    DEVICE_ERROR = "device_error"  # any other device error raised by a step
    LOCK_LOST = "lock_lost"  # fencing: not a ladder fault; the bot re-acquires its lock or ends stopped
    OPERATOR = "operator"  # an operator asked for a rung (BotSession.request_recovery): no fault, no budget spent


#: The rung each fault enters the ladder at (faults not listed enter at the first rung).
ENTRY: dict[FaultKind, Rung] = {
    FaultKind.APP_NOT_FOREGROUND: Rung.RESTART_APP,
    FaultKind.BAD_FRAME: Rung.RESTART_APP,
    FaultKind.NOT_BOOTED: Rung.RESTART_INSTANCE,
    FaultKind.ADB_DOWN: Rung.RECONNECT,
}


@dataclass(frozen=True, slots=True)
class Fault:
    """A detected fault: its kind, a one-line message, and details for events (strings and numbers)."""

    kind: FaultKind
    message: str
    details: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    at: float = field(default_factory=time.time)


class FailureBudget:
    """Failures in a sliding window; :meth:`spend` says whether the budget still holds (thread-unsafe: one bot)."""

    def __init__(self, settings: FailureBudgetSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._times: deque[float] = deque()

    def spend(self) -> bool:
        """Record one failure now; ``False`` once ``failures`` have happened within ``window`` seconds."""
        now = self._clock()
        self._times.append(now)
        while self._times and self._times[0] <= now - self.settings.window:
            self._times.popleft()
        return len(self._times) < self.settings.failures

    @property
    def recent(self) -> int:
        """Failures within the window now."""
        now = self._clock()
        return sum(1 for t in self._times if t > now - self.settings.window)


class Incident:
    """The rungs tried since the bot last got past the step where a fault interrupted it; picks the next rung.

    A routine resumed at its start re-runs steps it had passed: completing those is no sign the fault is gone,
    so only completing the interrupted step (``at``) or a later one ends the incident. A fault of another kind
    than the incident's last one starts the ladder afresh: the rung taken for the last fault worked (its check
    passed) and says nothing about this one (without this, four unrelated faults within one long step, each
    recovered, left the fifth no rung and the bot gave up with its failure budget untouched:
    ``benchmarks/chaos.py``). The failure budget bounds how often that may happen.
    """

    def __init__(self, rungs: tuple[Rung, ...]) -> None:
        self.rungs = rungs
        self.tried: list[Rung] = []
        self.at: int | None = None  # the top-level step index a fault interrupted
        self.kind: FaultKind | None = None  # the kind of the incident's last fault

    def next_rung(self, fault: FaultKind, *, adb_alive: bool, skip: frozenset[Rung] = frozenset()) -> Rung | None:
        """The first untried rung from the fault's entry rung on, then the ones before it, that can act now.

        ``skip``: rungs that cannot act for this bot (no recovery routine, no backend that restarts instances).
        """
        entry = ENTRY.get(fault, self.rungs[0])
        start = self.rungs.index(entry) if entry in self.rungs else 0
        for rung in (*self.rungs[start:], *self.rungs[:start]):
            if rung in self.tried or rung in skip or (rung in NEEDS_ADB and not adb_alive):
                continue
            return rung
        return None

    def took(self, rung: Rung) -> None:
        self.tried.append(rung)

    def interrupted(self, index: int, kind: FaultKind | None = None) -> None:
        """A fault (of ``kind``) interrupted top-level step ``index``; another kind than the last starts afresh."""
        if kind is not None and kind is not self.kind:
            self.tried.clear()
            self.kind = kind
        self.at = index if self.at is None else max(self.at, index)

    def completed(self, index: int) -> None:
        """Top-level step ``index`` completed: past the interrupted step, the next fault starts a new incident."""
        if self.at is not None and index >= self.at:
            self.tried.clear()
            self.at = None
            self.kind = None

    def reset(self) -> None:
        """A new attempt: a new incident."""
        self.tried.clear()
        self.at = None
        self.kind = None
