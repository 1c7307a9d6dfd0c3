"""The screen state machine of one instance: the current scenario state, taps, keys, timers, file guards.

Timers are evaluated lazily: whenever the state is read, every ``after`` timer that has expired fires, each one
at the exact time it expired (so a chain splash → title → popup lands where wall-clock time says, however rarely
the screen is looked at). Nothing runs in the background and nothing sleeps.

Not thread-safe on its own: :class:`~emufleet.sim.device.DeviceModel` serialises access with its lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from emufleet.sim.scenario import Scenario

__all__ = ["ScreenMachine"]

_MAX_CHAIN = 64  # timers or file guards chained in one step (guards against 0-ms loops)


class ScreenMachine:
    """Current state + entry time; transitions report ``(from, to, cause)`` to ``on_transition``.

    Args:
        scenario: the compiled scenario.
        file_exists: checks a device path for ``requires_file`` (as root: the check is the app's, not adb's).
        on_transition: called for each state change (the event log).
        clock: monotonic seconds.
    """

    def __init__(self, scenario: Scenario, file_exists: Callable[[str], bool],
                 on_transition: Callable[[str, str, str], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self._file_exists = file_exists
        self._on_transition = on_transition
        self._clock = clock
        self._state = scenario.initial
        self._entered = clock()

    def current(self) -> str:
        """The state now, after firing every expired timer."""
        now = self._clock()
        for _ in range(_MAX_CHAIN):
            after = self.scenario.states[self._state].after
            if after is None or now < self._entered + after[0] / 1000.0:
                break
            self._enter(after[1], "timer", self._entered + after[0] / 1000.0)
        return self._state

    def go(self, target: str, cause: str) -> str:
        """Enter ``target`` now (its ``requires_file`` guard applies); returns the state entered."""
        self.current()
        self._enter(target, cause, self._clock())
        return self._state

    def force(self, name: str, cause: str = "set_state") -> None:
        """Enter ``name`` exactly (no file guard): the test control surface."""
        if name not in self.scenario.states:
            raise KeyError(name)
        self._set(name, cause, self._clock())

    def reset(self, at: float | None = None) -> None:
        """Restart at the initial state, entered at ``at`` (monotonic s; default now): boot."""
        self._enter(self.scenario.initial, "boot", self._clock() if at is None else at)

    def tap(self, x: float, y: float) -> str | None:
        """A tap at device pixel ``(x, y)``: the first rule containing it fires; returns the target or None."""
        spec = self.scenario.states[self.current()]
        for rule in spec.taps:
            if rule.contains(x, y):
                self.go(rule.to, f"tap {x:g},{y:g}")
                return rule.to
        return None

    def key(self, code: int) -> str | None:
        """A key event: the state's ``keys`` mapping fires; returns the target or None."""
        target = self.scenario.states[self.current()].keys.get(code)
        if target is not None:
            self.go(target, f"key {code}")
        return target

    def _enter(self, target: str, cause: str, at: float) -> None:
        for _ in range(_MAX_CHAIN):
            guard = self.scenario.states[target].requires_file
            if guard is None or self._file_exists(guard[0]):
                break
            cause, target = f"{cause}; {guard[0]} missing", guard[1]
        self._set(target, cause, at)

    def _set(self, target: str, cause: str, at: float) -> None:
        before, self._state, self._entered = self._state, target, at
        if before != target or cause in ("boot", "set_state"):
            self._on_transition(before, target, cause)
