"""The replay device: a recorded session served offline through the device interface, and the replay's clock.

:class:`ReplayDevice` walks the session with a cursor. A capture returns the next recorded frame before the next
recorded input (the last one again once there is none: the screen had not changed without input); an input must be
the next recorded input (same kind and arguments), which moves the cursor past it; a bot supervisor's own inputs (health
probes, recovery rungs: ``by: supervisor``) are not expected. Reads (``getprop``,
``foreground_app``, ``pull``) answer what was read at that point of the session. The first input that differs, or
``stall_captures`` captures past a segment's last frame without the input the session expects next, is the
**divergence** (:class:`Divergence`): it is kept, and that call and every later one raise
:class:`~emufleet.errors.ReplayDivergence`, so the routine ends there.

:class:`ReplayClock` is a :class:`~emufleet.routines.Controller` on virtual time: the routine's waits advance it
instead of sleeping (a capture advances it by its recorded latency), so a replay runs as fast as matching allows and
step timeouts fire at the same place every time. Sentries' waits end when the main routine's time reaches them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from emufleet.device.interface import ShellResult
from emufleet.errors import DeviceError, ReplayDivergence, ShellError
from emufleet.routines.context import FrameCache
from emufleet.routines.control import Controller
from emufleet.sessions.format import (
    ForegroundEvent,
    FrameEvent,
    InputEvent,
    InputKind,
    ReadEvent,
    Session,
    StepRef,
    content_hash,
)
from emufleet.sessions.recording import StepTracker

__all__ = ["DEFAULT_STALL_CAPTURES", "Divergence", "ReplayClock", "ReplayDevice", "VirtualFrameCache"]

#: Captures past a segment's last frame before a routine that does not send the expected input has diverged.
DEFAULT_STALL_CAPTURES = 100


@dataclass(frozen=True, slots=True)
class Divergence:
    """Where a replay left its session.

    Attributes:
        index: 0-based number of the recorded input expected (``len(inputs)`` when none was left).
        expected: the input the session had next (``None``: the session had no more).
        sent: what the routine sent instead (``None``: it kept capturing, or ended, without sending it).
        frame: the name (hash) of the last frame served. step: the replay's running step when it happened.
        message: one line saying all that.
    """

    index: int
    expected: InputEvent | None
    sent: InputEvent | None
    frame: str | None
    step: StepRef | None
    message: str

    @property
    def expected_step(self) -> StepRef | None:
        """The step that sent the expected input when the session was recorded."""
        return self.expected.step if self.expected is not None else None


class ReplayClock(Controller):
    """A controller whose clock is virtual seconds (from 0), advanced by waits and by :meth:`advance`."""

    def __init__(self) -> None:
        super().__init__()
        self._now = 0.0

    def advance(self, seconds: float) -> None:
        with self._cond:
            self._now += max(0.0, seconds)
            self._cond.notify_all()

    def active_time(self) -> float:
        return self._now

    def clock(self, *, honour_pause: bool = True) -> float:
        return self._now

    def sleep(self, seconds: float, *, honour_pause: bool = True, boundary: bool = False,
              deadline: float | None = None, cancelled: Any = None) -> None:
        self.checkpoint(honour_pause=honour_pause, boundary=boundary, deadline=deadline, cancelled=cancelled)
        end = self._now + max(0.0, seconds)
        if honour_pause:  # the main routine drives the clock
            self.advance((end if deadline is None else min(end, deadline)) - self._now)
            self.checkpoint(honour_pause=honour_pause, boundary=boundary, deadline=deadline, cancelled=cancelled)
            return
        while True:  # a sentry: until the main routine's time reaches the end of its wait
            self.checkpoint(honour_pause=honour_pause, boundary=boundary, deadline=deadline, cancelled=cancelled)
            with self._cond:
                if self._now >= end:
                    return
                self._cond.wait(0.05)


class VirtualFrameCache(FrameCache):
    """The ≤ 100 ms frame reuse of :class:`~emufleet.routines.context.FrameCache`, aged on a replay clock."""

    def __init__(self, clock: ReplayClock) -> None:
        super().__init__()
        self._clock = clock
        self._virtual_at = 0.0

    def get(self) -> Any:
        with self._lock:
            if self._frame is not None and self._clock.clock() - self._virtual_at <= self.max_age_s:
                return self._frame
            return None

    def put(self, frame: Any) -> None:
        with self._lock:
            self._frame, self._virtual_at = frame, self._clock.clock()


class ReplayDevice:
    """``session`` as a device (implements :class:`~emufleet.device.interface.RecoverableDevice`); thread-safe.

    Args:
        session: the recorded session. steps: the replayed routine's step tracker (names the step in a
            divergence). clock: advanced by each capture's recorded latency. stall_captures: see the module.
    """

    def __init__(self, session: Session, *, steps: StepTracker | None = None, clock: ReplayClock | None = None,
                 stall_captures: int = DEFAULT_STALL_CAPTURES) -> None:
        self.session = session
        self.serial = session.header.serial
        self._events = session.events
        self._inputs = [i for i, e in enumerate(self._events) if isinstance(e, InputEvent) and e.by != "supervisor"]
        self._steps = steps
        self._clock = clock
        self.stall_captures = stall_captures
        self._lock = threading.RLock()
        self._pos = 0  # events before it are consumed (frames) or passed (inputs)
        self._matched = 0
        self._extra = 0
        self._frame: FrameEvent | None = None
        self._read: set[int] = set()
        self.frames_served = 0
        self.divergence: Divergence | None = None

    # -- bookkeeping -------------------------------------------------------------------------------------------------
    @property
    def inputs_matched(self) -> int:
        return self._matched

    @property
    def inputs_left(self) -> int:
        """Recorded inputs not sent yet."""
        return len(self._inputs) - self._matched

    def _next_input(self) -> tuple[int, InputEvent] | None:
        if self._matched >= len(self._inputs):
            return None
        index = self._inputs[self._matched]
        event = self._events[index]
        assert isinstance(event, InputEvent)
        return index, event

    def _window_end(self) -> int:
        nxt = self._next_input()
        return nxt[0] if nxt is not None else len(self._events)

    def diverge(self, message: str, sent: InputEvent | None = None) -> ReplayDivergence:
        """Record the divergence (the first one only) and return the error to raise."""
        with self._lock:
            if self.divergence is None:
                nxt = self._next_input()
                self.divergence = Divergence(self._matched, nxt[1] if nxt else None, sent,
                                             self._frame.frame if self._frame else None,
                                             self._steps.current() if self._steps else None, message)
            return ReplayDivergence(self.divergence.message)

    def _check(self) -> None:
        if self.divergence is not None:
            raise ReplayDivergence(self.divergence.message)

    # -- captures ----------------------------------------------------------------------------------------------------
    def screenshot(self, **kwargs: Any) -> np.ndarray:
        with self._lock:
            self._check()
            end = self._window_end()
            nxt = next((i for i in range(self._pos, end) if isinstance(self._events[i], FrameEvent)), None)
            if nxt is not None:
                self._pos, self._extra = nxt + 1, 0
                frame = self._events[nxt]
                assert isinstance(frame, FrameEvent)
                self._frame = frame
            else:
                self._extra += 1
                expected = self._next_input()
                if expected is not None and self._extra > self.stall_captures:
                    raise self.diverge(f"expected {expected[1].describe()}{_from(expected[1].step)}; the routine "
                                       f"captured {self.stall_captures} frames past the session's without sending it")
                if self._frame is None:  # nothing captured before the first input: the first frame recorded
                    self._frame = next((e for e in self._events if isinstance(e, FrameEvent)), None)
                if self._frame is None:
                    raise self.diverge("the session has no frame to serve")
            self.frames_served += 1
            if self._clock is not None:
                self._clock.advance(self._frame.ms / 1000.0)
            return self.session.frame(self._frame.frame)

    # -- inputs ------------------------------------------------------------------------------------------------------
    def _input(self, kind: InputKind, **args: str | int | bool | None) -> InputEvent:
        sent = InputEvent(t=0.0, kind=kind, args=args, step=self._steps.current() if self._steps else None)
        with self._lock:
            self._check()
            nxt = self._next_input()
            if nxt is None:
                raise self.diverge(f"the session expected no more input; the routine sent {sent.describe()}"
                                   f"{_from(sent.step)}", sent)
            index, expected = nxt
            if not expected.same_as(sent):
                raise self.diverge(f"expected {expected.describe()}{_from(expected.step)}; the routine sent "
                                   f"{sent.describe()}{_from(sent.step)}", sent)
            self._matched += 1
            self._pos, self._extra = index + 1, 0
            return expected

    def tap(self, x: int, y: int) -> None:
        self._input("tap", x=int(x), y=int(y))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        self._input("swipe", x1=int(x1), y1=int(y1), x2=int(x2), y2=int(y2), duration_ms=int(duration_ms))

    def key_event(self, key: str | int) -> None:
        self._input("key", key=key)

    def input_text(self, text: str) -> None:
        self._input("text", text=text)

    def app_start(self, package: str, activity: str | None = None, **kwargs: Any) -> None:
        self._input("app_start", package=package, activity=activity)

    def app_stop(self, package: str) -> None:
        self._input("app_stop", package=package)

    def _shell(self, command: str, root: bool, check: bool) -> ShellResult:
        recorded = self._input("shell", command=command, root=root)
        result = ShellResult(recorded.output or "", recorded.exit_code)
        if check and not result.ok:
            raise ShellError(f"{command!r} exited {result.exit_code}", serial=self.serial,
                             exit_code=result.exit_code, output=result.output)
        return result

    def shell(self, command: str, *, timeout_s: float | None = None, check: bool = False) -> ShellResult:
        return self._shell(command, False, check)

    def su(self, command: str, *, timeout_s: float | None = None, check: bool = True) -> ShellResult:
        return self._shell(command, True, check)

    def push(self, data: bytes, remote_path: str, **kwargs: Any) -> None:
        self._input("push", path=remote_path, blob=content_hash(data))

    # -- reads -------------------------------------------------------------------------------------------------------
    def _read_value(self, kind: str, name: str = "") -> tuple[bool, str | None]:
        """The next unread answer of ``kind``/``name`` before the next input, else the last one before the cursor:
        ``(found, value)``."""
        with self._lock:
            self._check()
            for i in range(self._pos, self._window_end()):
                event = self._events[i]
                if isinstance(event, ReadEvent) and event.kind == kind and event.name == name and i not in self._read:
                    self._read.add(i)
                    return True, event.value
            for i in range(min(self._pos, len(self._events)) - 1, -1, -1):
                event = self._events[i]
                if isinstance(event, ReadEvent) and event.kind == kind and event.name == name:
                    return True, event.value
                if kind == "foreground_app" and isinstance(event, ForegroundEvent):
                    return True, event.package
            return False, None

    def getprop(self, name: str, *, timeout_s: float | None = None) -> str:
        return self._read_value("getprop", name)[1] or ""

    def foreground_app(self) -> str | None:
        found, value = self._read_value("foreground_app")
        if not found:  # never asked while recording: the foreground recorded at or before this point
            with self._lock:
                before = [e for e in self._events[:max(self._pos, 1)] if isinstance(e, ForegroundEvent)]
            value = before[-1].package if before else None
        return value

    def pull(self, remote_path: str) -> bytes:
        found, value = self._read_value("pull", remote_path)
        if not found or value is None:
            raise DeviceError(f"{remote_path}: no such file in the recorded session", serial=self.serial)
        return self.session.blob(value)

    # -- recovery's calls: nothing to do offline ----------------------------------------------------------------------
    def reconnect(self, timeout_s: float = 10.0) -> None:
        self._check()

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        self._check()

    def reboot(self, *, wait: bool = True, timeout_s: float = 120.0) -> None:
        raise self.diverge("the routine rebooted the device; a session cannot replay a reboot")


def _from(step: StepRef | None) -> str:
    return f" from {step}" if step is not None else ""
