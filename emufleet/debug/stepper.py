"""The step debugger's core: where to pause (:class:`Breakpoint`), what a pause shows (:class:`Pause`), and the
:class:`Stepper` that a routine's executor meets at every step boundary.

The stepper is a :class:`~emufleet.routines.StepEvent` hook: on a main-routine ``started`` event it decides whether to
pause (a breakpoint, a step over/into/out target) and, if so, blocks the routine's thread on the bot's
:class:`~emufleet.routines.Controller` until a command arrives. Pausing through the controller keeps the routine's
semantics: step timeouts and ``WaitForImage`` deadlines do not run while paused, sentries keep running (as when an
operator pauses a bot), and a stop ends the routine at once with ``RoutineStopped``. Sentry steps never pause.

Example::

    stepper = Stepper([Breakpoint.parse("steps[1]")])
    ctx = BotContext(device, templates, registry, on_event=stepper.hook)
    stepper.bind(ctx)
    ... run the routine in a thread ...
    pause = stepper.wait()          # the first pause (entry, unless stop_on_entry=False), or None when it ended
    stepper.step_over()
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from emufleet.errors import InputError

if TYPE_CHECKING:
    from emufleet.routines import BotContext, MatchScore, StepEvent
    from emufleet.vision import Region

__all__ = ["COMMANDS", "Breakpoint", "Pause", "Stepper", "StepResult", "verdict"]

#: The commands of :meth:`Stepper.command`.
COMMANDS = ("over", "into", "out", "continue", "stop")

Mode = Literal["continue", "into", "over", "out"]
_PATH = re.compile(r"steps\[\d+\](\.[a-z_]+\[\d+\])*")


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """Pause before a step: by its path (``steps[2]``, ``steps[1].actions[0]``) or its 1-based file line, in the
    debugged routine or (``routine``) a sub-routine it runs.

    ``parse`` reads the CLI/console form ``[ROUTINE:]PATH`` or ``[ROUTINE:]LINE``, e.g. ``steps[1]``, ``12``,
    ``demo/reach_home:steps[0]``; anything else raises ``InputError`` naming the text.
    """

    path: str | None = None
    line: int | None = None
    routine: str | None = None

    @classmethod
    def parse(cls, text: str) -> Breakpoint:
        routine, sep, where = text.strip().rpartition(":")
        where = where.strip()
        if where.isdigit() and int(where) > 0:
            return cls(line=int(where), routine=routine or None)
        if _PATH.fullmatch(where):
            return cls(path=where, routine=routine or None)
        raise InputError(f"breakpoint {text!r}: expected [ROUTINE:]steps[N]... or [ROUTINE:]LINE")

    def hits(self, event: StepEvent, top: str) -> bool:
        """Whether ``event`` (a step starting) is at this breakpoint; ``top`` is the debugged routine's key."""
        if event.routine != (self.routine or top):
            return False
        return event.path == self.path if self.path is not None else event.line == self.line

    def __str__(self) -> str:
        where = self.path if self.path is not None else str(self.line)
        return f"{self.routine}:{where}" if self.routine else where


@dataclass(frozen=True, slots=True)
class StepResult:
    """How a step ended: ``finished`` or ``failed`` (with the error) and its template checks (device px)."""

    routine: str
    path: str
    action: str
    kind: Literal["finished", "failed"]
    duration_ms: float
    scores: tuple[MatchScore, ...]
    error: str | None = None

    def lines(self) -> list[str]:
        """One line for the step, one per template check saying why it matched or not (:func:`verdict`)."""
        head = f"{self.routine}:{self.path} {self.action} {self.kind} in {self.duration_ms:.0f} ms"
        return [head + (f": {self.error}" if self.error else ""), *(verdict(s) for s in self.scores[-6:])]


def verdict(score: MatchScore) -> str:
    """Why a template check matched or not, e.g. ``Menu 0.93 >= 0.80: found at (12,40 80x30)``."""
    if score.score is None:
        where = f" in region {_box(score.region)}" if score.region else ""
        return f"{score.template}: nothing could be scored{where}"
    threshold = f"{score.threshold:.2f}" if score.threshold is not None else "?"
    at = f" at {_box(score.location)}" if score.location else ""
    if score.found:
        return f"{score.template} {score.score:.2f} >= {threshold}: found{at}"
    return f"{score.template} {score.score:.2f} < {threshold}: not found (best candidate{at})"


def _box(region: Region | None) -> str:
    return f"({region.x1},{region.y1} {region.width}x{region.height})" if region is not None else "?"


@dataclass(frozen=True, slots=True)
class Pause:
    """The routine is paused before a step.

    Attributes:
        number: 1 for the first pause of the run, +1 for each. reason: ``entry``, ``breakpoint`` or ``step``.
        routine, path, action, line, depth: the step about to run (``depth`` 0 = a top-level step of the debugged
            routine, +1 per nesting, sub-routines included).
        variables: the bot's variables at the pause. last: how the previous step of the main routine ended
            (``None`` before the first).
    """

    number: int
    reason: Literal["entry", "breakpoint", "step"]
    routine: str
    path: str
    action: str
    line: int | None
    depth: int
    variables: dict[str, str]
    last: StepResult | None = None

    def where(self) -> str:
        line = f" (line {self.line})" if self.line else ""
        return f"{self.routine}:{self.path} {self.action}{line}"


@dataclass
class _State:
    mode: Mode = "into"
    depth: int = 0  # the depth of the pause a step over/out started from
    pause: Pause | None = None
    ended: bool = False
    count: int = 0
    last: StepResult | None = None
    results: list[StepResult] = field(default_factory=list)


class Stepper:
    """Pauses a routine at breakpoints and steps; commanded from another thread (the CLI prompt, the console).

    Args:
        breakpoints: where to pause (more can be added while it runs: :meth:`set_breakpoints`).
        stop_on_entry: pause before the first step (else run to the first breakpoint).
        on_pause: called (from the routine's thread) with each new :class:`Pause`, e.g. to publish its frame.

    Commands (:meth:`step_over`, :meth:`step_into`, :meth:`step_out`, :meth:`resume`, :meth:`stop`) apply to the
    current pause and return at once; :meth:`wait` blocks until the next pause or the end of the run.
    """

    def __init__(self, breakpoints: Iterable[Breakpoint] = (), *, stop_on_entry: bool = True,
                 on_pause: Callable[[Pause], None] | None = None) -> None:
        self._breakpoints = list(breakpoints)
        self._on_pause = on_pause
        self._cond = threading.Condition()
        self._state = _State(mode="into" if stop_on_entry else "continue")
        self._ctx: BotContext | None = None
        self._top = ""

    def bind(self, ctx: BotContext, routine: str) -> None:
        """Attach to the bot context ``ctx`` (its controller pauses the routine) debugging routine key ``routine``."""
        self._ctx, self._top = ctx, routine

    # -- the routine's side ------------------------------------------------------------------------------------
    def hook(self, event: StepEvent) -> None:
        """The ``on_event`` hook: remember how steps end; pause before the steps the mode and breakpoints name."""
        if event.sentry is not None:
            return
        if event.kind != "started":
            result = StepResult(event.routine, event.path, event.action, event.kind, event.duration_ms or 0.0,
                                event.scores, event.error)
            with self._cond:
                self._state.last = result
                self._state.results.append(result)
                del self._state.results[:-200]
            return
        reason = self._reason(event)
        if reason is not None:
            self._pause(event, reason)

    def _reason(self, event: StepEvent) -> Literal["entry", "breakpoint", "step"] | None:
        with self._cond:
            state = self._state
            if any(b.hits(event, self._top) for b in self._breakpoints):
                return "breakpoint"
            if state.mode == "into" or (state.mode == "over" and event.depth <= state.depth) or (
                    state.mode == "out" and event.depth < state.depth):
                return "entry" if state.count == 0 else "step"
            return None

    def _pause(self, event: StepEvent, reason: Literal["entry", "breakpoint", "step"]) -> None:
        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("Stepper.bind was not called")  # a programming error, not user input
        with self._cond:
            self._state.count += 1
            pause = Pause(self._state.count, reason, event.routine, event.path, event.action, event.line,
                          event.depth, ctx.variables.snapshot(), self._state.last)
            self._state.pause = pause
            ctx.controller.pause()
            self._cond.notify_all()
        if self._on_pause is not None:
            self._on_pause(pause)
        try:
            ctx.controller.checkpoint()  # blocks until a command resumes (or stops) the routine
        finally:
            with self._cond:
                self._state.pause = None

    # -- the debugger's side -----------------------------------------------------------------------------------
    @property
    def pause(self) -> Pause | None:
        """The current pause (``None`` while the routine runs or after it ended)."""
        with self._cond:
            return self._state.pause

    @property
    def last(self) -> StepResult | None:
        """How the latest main-routine step ended."""
        with self._cond:
            return self._state.last

    @property
    def breakpoints(self) -> list[Breakpoint]:
        with self._cond:
            return list(self._breakpoints)

    def set_breakpoints(self, breakpoints: Iterable[Breakpoint]) -> None:
        with self._cond:
            self._breakpoints = list(breakpoints)

    def wait(self, timeout: float | None = None) -> Pause | None:
        """Block until the routine pauses or the run ends (or ``timeout`` s); the pause, else ``None``."""
        with self._cond:
            self._cond.wait_for(lambda: self._state.pause is not None or self._state.ended, timeout)
            return self._state.pause

    def ended(self) -> None:
        """The run is over (called by the runner): wake every :meth:`wait`."""
        with self._cond:
            self._state.ended = True
            self._state.pause = None
            self._cond.notify_all()

    def _go(self, mode: Mode) -> None:
        with self._cond:
            pause = self._state.pause
            if pause is None:
                raise InputError("the routine is not paused")
            self._state.mode, self._state.depth, self._state.pause = mode, pause.depth, None
        if self._ctx is not None:
            self._ctx.controller.resume()

    def step_over(self) -> None:
        """Run the paused step (and everything it nests) and pause before the next one at its depth or above."""
        self._go("over")

    def step_into(self) -> None:
        """Pause before the next step at any depth (inside an ``If``, a loop, a ``RunRoutine``'s sub-routine)."""
        self._go("into")

    def step_out(self) -> None:
        """Pause before the next step of a shallower depth (out of the loop or sub-routine)."""
        self._go("out")

    def resume(self) -> None:
        """Continue to the next breakpoint (or the end)."""
        self._go("continue")

    def command(self, name: str) -> None:
        """Apply a command by its name in :data:`COMMANDS` (the console's buttons and API).

        Raises:
            InputError: an unknown command, or a step command while the routine is not paused.
        """
        actions = {"over": self.step_over, "into": self.step_into, "out": self.step_out, "continue": self.resume,
                   "stop": self.stop}
        if name not in actions:
            raise InputError(f"unknown debugger command {name!r}: use one of {', '.join(COMMANDS)}")
        actions[name]()

    def stop(self) -> None:
        """Stop the routine: a paused or running routine ends with ``RoutineStopped`` (sentries with it)."""
        with self._cond:
            self._state.pause = None
        if self._ctx is not None:
            self._ctx.controller.stop()
