"""The routine controller: pause, resume and stop that reach a running step within 100 ms (digest §3.2).

Every wait of the interpreter (``Sleep``, ``Delay``, ``WaitForImage`` polls, loop pauses, sentry intervals)
goes through :meth:`Controller.sleep`, which blocks on a condition variable, never on a full ``time.sleep``:
a state change wakes it at once. This is the cancellation token of a bot; a step timeout is enforced by the
same waits (cooperatively, the step really stops), not by abandoning a thread as the seed did (§11.2 item 3).

States: ``running`` → ``paused`` ⇄ ``running`` → ``stopped`` (final until :meth:`reset`).
``stop(force=False)`` is the graceful variant (sentry ``on_failure: stop``): the running step finishes and the
routine stops at the next step boundary; ``stop()`` (force) also interrupts the running step.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from emufleet.errors import RoutineStopped, StepTimeoutError

__all__ = ["BreakLoop", "Controller", "ControllerState"]

ControllerState = Literal["running", "paused", "stopped"]


class BreakLoop(Exception):  # noqa: N818 - control flow, not an error; caught by the innermost loop
    """Raised by ``Break``; every loop action catches it, through any nesting of ``If``/image ifs (§11.2 item 2)."""


class Controller:
    """Thread-safe pause/resume/stop shared by a bot's main routine and its sentries.

    Time spent paused is excluded from :meth:`active_time`, so step timeouts and ``WaitForImage`` timeouts do
    not expire while the bot is paused.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._state: ControllerState = "running"
        self._force = False
        self._paused_since: float | None = None
        self._paused_total = 0.0

    # -- state changes ---------------------------------------------------------------------------------------
    def pause(self) -> None:
        """Pause: the main routine blocks at its next checkpoint (any wait or step boundary). No-op unless running."""
        with self._cond:
            if self._state == "running":
                self._state = "paused"
                self._paused_since = time.monotonic()
                self._cond.notify_all()

    def resume(self) -> None:
        """Resume a paused routine. No-op unless paused."""
        with self._cond:
            if self._state == "paused":
                self._state = "running"
                self._end_pause()
                self._cond.notify_all()

    def stop(self, *, force: bool = True) -> None:
        """Stop. ``force=True`` interrupts the running step; ``False`` lets it finish (stop at the next step)."""
        with self._cond:
            if self._state == "paused":
                self._end_pause()
            self._force = self._force or force or self._state == "stopped"
            self._state = "stopped"
            self._cond.notify_all()

    def wake(self) -> None:
        """Wake every waiter so it re-checks its own cancellation predicate (a sentry being unregistered)."""
        with self._cond:
            self._cond.notify_all()

    def reset(self) -> None:
        """Back to ``running`` (a new run of the bot)."""
        with self._cond:
            self._state, self._force = "running", False
            self._paused_since, self._paused_total = None, 0.0
            self._cond.notify_all()

    def _end_pause(self) -> None:
        if self._paused_since is not None:
            self._paused_total += time.monotonic() - self._paused_since
            self._paused_since = None

    # -- queries ---------------------------------------------------------------------------------------------
    @property
    def state(self) -> ControllerState:
        return self._state

    @property
    def stopped(self) -> bool:
        return self._state == "stopped"

    @property
    def paused(self) -> bool:
        return self._state == "paused"

    def active_time(self) -> float:
        """Monotonic seconds minus the time spent paused (the clock of step deadlines)."""
        with self._cond:
            paused = self._paused_total
            if self._paused_since is not None:
                paused += time.monotonic() - self._paused_since
            return time.monotonic() - paused

    def clock(self, *, honour_pause: bool = True) -> float:
        """The clock of deadlines: :meth:`active_time` for the main routine, monotonic time for sentries."""
        return self.active_time() if honour_pause else time.monotonic()

    # -- checkpoints -----------------------------------------------------------------------------------------
    def checkpoint(self, *, honour_pause: bool = True, boundary: bool = False, deadline: float | None = None,
                   cancelled: Callable[[], bool] | None = None) -> None:
        """Block while paused (if ``honour_pause``); raise when stopped, cancelled or past ``deadline``.

        ``boundary=True`` marks a step boundary, where a graceful stop also applies (sentries pass it always:
        they never outlive a stop). ``deadline`` is on :meth:`clock` (same ``honour_pause``); ``cancelled`` is an
        extra stop predicate, re-checked whenever :meth:`wake` is called.

        Raises:
            RoutineStopped: stopped (forcefully, or gracefully at a boundary) or cancelled.
            StepTimeoutError: ``deadline`` has passed.
        """
        with self._cond:
            while True:
                if (self._state == "stopped" and (self._force or boundary)) or (cancelled and cancelled()):
                    raise RoutineStopped("stopped")
                if honour_pause and self._state == "paused":
                    self._cond.wait()
                    continue
                break
        if deadline is not None and self.clock(honour_pause=honour_pause) >= deadline:
            raise StepTimeoutError("step timed out")

    def sleep(self, seconds: float, *, honour_pause: bool = True, boundary: bool = False,
              deadline: float | None = None, cancelled: Callable[[], bool] | None = None) -> None:
        """Sleep ``seconds`` (of active time when ``honour_pause``), waking at once on pause, resume or stop.

        While paused the sleep is suspended (if ``honour_pause``); ``deadline`` (on :meth:`clock`) bounds it.

        Raises:
            RoutineStopped, StepTimeoutError: see :meth:`checkpoint`.
        """
        end = self.clock(honour_pause=honour_pause) + max(0.0, seconds)
        while True:
            self.checkpoint(honour_pause=honour_pause, boundary=boundary, deadline=deadline, cancelled=cancelled)
            with self._cond:
                if (honour_pause and self._state == "paused") or (
                        self._state == "stopped" and (self._force or boundary)) or (cancelled and cancelled()):
                    continue  # the checkpoint blocks or raises
                now = self.clock(honour_pause=honour_pause)
                if now >= end:
                    return
                self._cond.wait(end - now if deadline is None else max(0.0, min(end, deadline) - now))
