"""The interpreter of steps: one :class:`Executor` per thread of a bot (the main routine, each sentry).

It runs steps in order with the digest §1.4 semantics (any error aborts; composite steps run their nested steps
here), checks the controller at every step boundary and inside every wait, enforces step timeouts
cooperatively, emits :class:`StepEvent` s, and gives actions their device, vision and variable helpers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from emufleet.errors import (
    InputError,
    NoAccountPoolError,
    RoutineError,
    RoutineStopped,
    StepTimeoutError,
    VisionError,
)
from emufleet.routines.accounts import AccountProvider
from emufleet.routines.context import BotContext, MatchScore, StepEvent
from emufleet.routines.control import BreakLoop
from emufleet.routines.loader import format_loc
from emufleet.routines.variables import UndefinedVariable

if TYPE_CHECKING:
    from emufleet.device.interface import DeviceLike
    from emufleet.routines.grammar.base import StepBase
    from emufleet.routines.loader import Loc, Routine
    from emufleet.vision import CoordinateSpace, Match, Region, Screen

__all__ = ["Executor", "LOOP_PAUSE_S"]

T = TypeVar("T")
#: Pause between loop iterations (digest §1.4: 100 ms), interruptible.
LOOP_PAUSE_S = 0.1
_MAX_SCORES = 50


@dataclass
class _Frame:
    """One running step: where it is, its deadline (on the controller clock) and the scores it collected."""

    step: StepBase
    path: str
    deadline: float | None
    scores: list[MatchScore] = field(default_factory=list)


class Executor:
    """Runs steps of ``routine`` for one thread of a bot.

    Args:
        ctx: the bot's context.
        routine: the routine whose steps run (switched while a ``RunRoutine`` runs).
        sentry: the sentry's routine key when this executor runs a sentry (pause is then ignored: a sentry keeps
            running while it halts the main routine; stop is never ignored).
        cancelled: an extra stop predicate (a sentry being unregistered).
    """

    def __init__(self, ctx: BotContext, routine: Routine, *, sentry: str | None = None,
                 cancelled: Callable[[], bool] | None = None) -> None:
        self.ctx = ctx
        self.routine = routine
        self.sentry = sentry
        self._cancelled = cancelled
        self._stack: list[_Frame] = []

    # -- controller ------------------------------------------------------------------------------------------
    @property
    def _honour_pause(self) -> bool:
        return self.sentry is None

    def _deadline(self) -> float | None:
        deadlines = [f.deadline for f in self._stack if f.deadline is not None]
        return min(deadlines) if deadlines else None

    def clock(self) -> float:
        """Seconds on the controller clock of this executor (paused time excluded for the main routine)."""
        return self.ctx.controller.clock(honour_pause=self._honour_pause)

    def checkpoint(self, *, boundary: bool = False) -> None:
        """Block while paused; raise ``RoutineStopped`` when stopped, ``StepTimeoutError`` past the deadline."""
        self.ctx.controller.checkpoint(honour_pause=self._honour_pause, boundary=boundary or self.sentry is not None,
                                       deadline=self._deadline(), cancelled=self._cancelled)

    def sleep(self, seconds: float) -> None:
        """Interruptible sleep: pause, resume, stop and the step deadline reach it at once."""
        self.ctx.controller.sleep(seconds, honour_pause=self._honour_pause, boundary=self.sentry is not None,
                                  deadline=self._deadline(), cancelled=self._cancelled)

    # -- running steps ---------------------------------------------------------------------------------------
    def run_steps(self, steps: Sequence[StepBase], sub: Loc = ()) -> None:
        """Run nested ``steps`` (``sub`` = their place below the current step, e.g. ``("actions",)``)."""
        base = self._stack[-1].path if self._stack else "steps"
        prefix = f"{base}.{format_loc(sub)}" if sub else base
        for i, step in enumerate(steps):
            self.run_step(step, f"{prefix}[{i}]")

    def run_step(self, step: StepBase, path: str) -> None:
        """Run one step with its events, timeout and location on errors."""
        self.checkpoint(boundary=True)
        timeout = step.timeout_s
        frame = _Frame(step, path, self.clock() + timeout if timeout else None)
        self._stack.append(frame)
        depth = len(self._stack) - 1
        self._emit("started", frame, depth)
        started = time.perf_counter()
        try:
            step.run(self)
        except BreakLoop:
            self._finish(frame, depth, started, "finished")
            raise
        except StepTimeoutError as exc:
            mine = frame.deadline is not None and self.clock() >= frame.deadline
            timed_out = StepTimeoutError(f"{step.NAME} timed out after {(timeout or 0) * 1000:g} ms",
                                         routine=self.routine.key, step=self._where(frame)) if mine else exc
            self._finish(frame, depth, started, "failed", timed_out)
            raise timed_out from None
        except RoutineStopped as exc:
            self._finish(frame, depth, started, "failed", exc)
            raise
        except RoutineError as exc:
            if exc.step is None:
                exc = type(exc)(exc.message, routine=self.routine.key, step=self._where(frame))
            self._finish(frame, depth, started, "failed", exc)
            raise exc from None
        except Exception as exc:
            self._finish(frame, depth, started, "failed", exc)
            raise
        else:
            self._finish(frame, depth, started, "finished")

    def _finish(self, frame: _Frame, depth: int, started: float, kind: Literal["finished", "failed"],
                exc: BaseException | None = None) -> None:
        self._stack.pop()
        if self._stack:
            parent = self._stack[-1].scores
            parent.extend(frame.scores)
            del parent[:-_MAX_SCORES]
        self._emit(kind, frame, depth, (time.perf_counter() - started) * 1000.0, exc)

    def _emit(self, kind: Literal["started", "finished", "failed"], frame: _Frame, depth: int,
              duration_ms: float | None = None, exc: BaseException | None = None) -> None:
        self.ctx.emit(StepEvent(kind=kind, routine=self.routine.key, path=frame.path, action=frame.step.NAME,
                                depth=depth, line=frame.step.line, duration_ms=duration_ms,
                                scores=tuple(frame.scores[-_MAX_SCORES:]), error=str(exc) if exc else None,
                                sentry=self.sentry, bot_id=self.ctx.bot_id, stuck_after_s=frame.step.stuck_after))

    def _where(self, frame: _Frame | None = None) -> str:
        frame = frame or (self._stack[-1] if self._stack else None)
        if frame is None:
            return str(self.routine.path)
        line = f":{frame.step.line}" if frame.step.line else ""
        return f"{frame.path} {frame.step.NAME} ({self.routine.path}{line})"

    def error(self, message: str) -> RoutineError:
        """A ``RoutineError`` located at the running step (routine key, step path, file:line)."""
        return RoutineError(message, routine=self.routine.key, step=self._where())

    def loop(self, body: Sequence[StepBase], max_attempts: int, keep_going: Callable[[], bool],
             exhausted: str) -> None:
        """The loop of ``While``/``Until``/image loops: check, run the body, pause 100 ms; ``Break`` ends it.

        Raises ``RoutineError`` ("<exhausted> after N attempts") when ``max_attempts`` (> 0) body runs did not
        end the loop.
        """
        attempts = 0
        try:
            while True:
                self.checkpoint()
                if not keep_going():
                    return
                if max_attempts and attempts >= max_attempts:
                    raise self.error(f"{exhausted} after {max_attempts} attempts")
                attempts += 1
                self.run_steps(body, ("actions",))
                self.sleep(LOOP_PAUSE_S)
        except BreakLoop:
            return

    @contextmanager
    def _running(self, routine: Routine) -> Iterator[None]:
        saved, self.routine = self.routine, routine
        try:
            yield
        finally:
            self.routine = saved

    def run_routine(self, key: str, overrides: Mapping[str, str]) -> None:
        """``RunRoutine``: config with ``overrides``, the sub-routine's sentries, then its steps."""
        from emufleet.routines.run import apply_config

        registry = self.ctx.registry
        routine = registry.find(key) if registry is not None else None
        if routine is None:
            raise self.error(f"routine {key!r} is not in the registry")
        try:
            apply_config(routine, self.ctx, overrides)
        except InputError as exc:
            raise self.error(f"config of {key!r}: {exc}") from None
        handles = self.ctx.sentries.register(routine.sentries) if self.sentry is None else []
        try:
            with self._running(routine):
                for i, step in enumerate(routine.steps):
                    self.run_step(step, f"steps[{i}]")
        finally:
            self.ctx.sentries.unregister(handles)

    # -- variables -------------------------------------------------------------------------------------------
    def variable(self, name: str) -> str:
        try:
            return self.ctx.variables.get(name)
        except UndefinedVariable as exc:
            raise self.error(str(exc)) from None

    def interpolate(self, text: str) -> str:
        """``${var}`` interpolation; an undefined reference is a located ``RoutineError``."""
        try:
            return self.ctx.variables.interpolate(text)
        except UndefinedVariable as exc:
            raise self.error(f"{exc} in {text!r}") from None

    def integer(self, text: str, what: str) -> int:
        value = self.interpolate(text)
        try:
            return int(value.strip())
        except ValueError:
            raise self.error(f"{what} must be an integer, got {value!r}") from None

    # -- accounts --------------------------------------------------------------------------------------------
    def accounts(self) -> AccountProvider:
        if self.ctx.accounts is None:
            raise NoAccountPoolError("no account pool configured", routine=self.routine.key, step=self._where())
        return self.ctx.accounts

    def account_id(self, variable: str | None) -> int | None:
        """The id held by ``variable`` (``None``: the current account)."""
        if variable is None:
            return None
        return self.integer(self.variable(variable), f"account id in {variable!r}")

    # -- device ----------------------------------------------------------------------------------------------
    def with_device(self, fn: Callable[[DeviceLike], T]) -> T:
        """Call ``fn(device)`` holding the bot's device lock (main routine and sentries are serialised)."""
        self.checkpoint()
        with self.ctx.device_lock:
            return fn(self.ctx.device)

    def device_call(self, method: str, *args: object) -> None:
        """``device.<method>(*args)`` for an input method of ``DeviceLike`` (tap, swipe, key_event, …)."""
        self.with_device(lambda device: getattr(device, method)(*args))

    def _space(self) -> CoordinateSpace:
        if self.ctx.templates is None:
            raise self.error("no template set: coordinates need the template set's coordinate space")
        return self.ctx.templates.space

    def tap(self, x: float, y: float) -> None:
        """Tap at template-space ``(x, y)`` (mapped with ``CoordinateSpace.device_point``)."""
        dx, dy = self._space().device_point(x, y)
        self.device_call("tap", dx, dy)

    def swipe(self, x1: float, y1: float, x2: float, y2: float, seconds: float) -> None:
        space = self._space()
        (a, b), (c, d) = space.device_point(x1, y1), space.device_point(x2, y2)
        self.device_call("swipe", a, b, c, d, max(1, round(seconds * 1000)))

    # -- vision ----------------------------------------------------------------------------------------------
    def fresh_frame(self) -> Screen:
        """Capture a new frame (and cache it for ≤ 100 ms reuse)."""
        from emufleet.vision import Screen

        space = self._space()
        pacer = self.ctx.pacer
        if pacer is not None:
            self.sleep(pacer.delay())  # degraded mode: the host is saturated, captures are spaced (interruptibly)
        began = time.perf_counter()
        frame = self.with_device(lambda device: device.screenshot())
        if pacer is not None:
            pacer.captured((time.perf_counter() - began) * 1000.0)
        try:
            screen = Screen(frame, space)
        except VisionError as exc:
            raise self.error(str(exc)) from exc
        self.ctx.frames.put(screen)
        return screen

    def find(self, template: str, *, threshold: float | None = None, region: Region | None = None,
             fresh: bool) -> Match | None:
        """Match ``template`` on a fresh frame, or on one ≤ 100 ms old when ``fresh`` is false.

        Returns the best match (``.center`` in template space) or ``None``; the score goes into the step event.
        """
        from emufleet.vision import match

        templates = self.ctx.templates
        if templates is None or template not in templates:
            raise self.error(f"template {template!r} is not registered in the template set")
        screen = self.screen(fresh=fresh)
        started = time.perf_counter()
        try:
            result = match(screen, templates.get(template), space=templates.space, threshold=threshold, region=region)
        except VisionError as exc:
            raise self.error(str(exc)) from exc
        if self.ctx.on_match is not None:
            self.ctx.on_match(time.perf_counter() - started, result.found)
        nearest = result.nearest
        self.record(MatchScore(template, nearest.score if nearest else None, result.found, threshold=result.threshold,
                               region=templates.space.region_to_device(result.region),
                               location=nearest.device_rect if nearest else None))
        return result.best

    def screen(self, *, fresh: bool) -> Screen:
        """A fresh frame, or (``fresh`` false) the cached one when it is ≤ 100 ms old."""
        cached = None if fresh else self.ctx.frames.get()
        return cached or self.fresh_frame()

    def record(self, score: MatchScore) -> None:
        """Keep a recognition's score and boxes on the running step (its event and failure evidence)."""
        if self._stack:
            scores = self._stack[-1].scores
            scores.append(score)
            if len(scores) > 2 * _MAX_SCORES:  # a step polling for an hour keeps its newest scores, not all
                del scores[:-_MAX_SCORES]
