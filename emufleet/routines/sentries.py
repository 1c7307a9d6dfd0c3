"""Sentries: routines run periodically, in parallel with the main routine, on the same bot (digest §3).

One :class:`SentryManager` per bot, keyed by sentry routine and reference-counted (a routine and its
``RunRoutine`` sub-routine may register the same sentry). Each sentry is a thread:

* first run after one full interval, then every ``frequency`` (the fastest registered frequency wins);
* it ignores pause (it is what halts the main routine with ``SentryHalt``) but never stop: a stop of the bot
  ends it at its next checkpoint, and so does its unregistration;
* outcome → action: ``resume`` (resume a paused main routine), ``pause`` (pause it), ``stop`` (graceful: the
  running step finishes), ``force_stop`` (the running step is interrupted);
* device calls go through the bot's device lock, so taps and captures never interleave with the main routine.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emufleet.errors import RoutineError, RoutineStopped

if TYPE_CHECKING:
    from emufleet.routines.context import BotContext
    from emufleet.routines.grammar import SentrySpec

__all__ = ["SentryHandle", "SentryManager", "SentryOutcome"]

log = logging.getLogger(__name__)
_SEVERITY = {"low": logging.INFO, "medium": logging.WARNING, "high": logging.ERROR, "critical": logging.CRITICAL}
_JOIN_S = 5.0
#: Sentry outcomes kept per bot: a sentry runs every few seconds for as long as the bot does (hours).
OUTCOMES_KEPT = 100


@dataclass(frozen=True, slots=True)
class SentryHandle:
    """What :meth:`SentryManager.register` returns, for :meth:`SentryManager.unregister`."""

    routine: str


@dataclass(frozen=True, slots=True)
class SentryOutcome:
    """One run of a sentry: its routine, whether it succeeded, the error, and the action applied."""

    routine: str
    success: bool
    action: str
    error: str | None = None


@dataclass
class _Entry:
    spec: SentrySpec
    frequency: float
    count: int = 1
    cancelled: bool = False
    thread: threading.Thread | None = None


class SentryManager:
    """The sentries of one bot. Thread-safe."""

    def __init__(self, ctx: BotContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        #: The last :data:`OUTCOMES_KEPT` sentry outcomes of this bot, oldest first (for reports and tests).
        self.outcomes: deque[SentryOutcome] = deque(maxlen=OUTCOMES_KEPT)

    def register(self, specs: Iterable[SentrySpec]) -> list[SentryHandle]:
        """Start (or reference) a sentry per spec; returns handles for :meth:`unregister`."""
        handles = []
        for spec in specs:
            with self._lock:
                entry = self._entries.get(spec.routine)
                if entry is None:
                    entry = self._entries[spec.routine] = _Entry(spec, spec.frequency)
                    entry.thread = threading.Thread(target=self._loop, args=(entry,), daemon=True,
                                                    name=f"sentry:{self.ctx.bot_id}:{spec.routine}")
                    entry.thread.start()
                else:
                    entry.count += 1
                    entry.frequency = min(entry.frequency, spec.frequency)
            handles.append(SentryHandle(spec.routine))
        return handles

    def unregister(self, handles: Iterable[SentryHandle]) -> None:
        """Drop references; a sentry with none left is cancelled and joined (its running step is interrupted)."""
        stopping = []
        for handle in handles:
            with self._lock:
                entry = self._entries.get(handle.routine)
                if entry is None:
                    continue
                entry.count -= 1
                if entry.count <= 0:
                    entry.cancelled = True
                    del self._entries[handle.routine]
                    stopping.append(entry)
        if stopping:
            self.ctx.controller.wake()
        for entry in stopping:
            if entry.thread is not None and entry.thread is not threading.current_thread():
                entry.thread.join(_JOIN_S)

    def active(self) -> list[str]:
        """Routine keys of the running sentries."""
        with self._lock:
            return sorted(self._entries)

    def stop_all(self) -> None:
        """Cancel every sentry (bot shutdown)."""
        with self._lock:
            handles = [SentryHandle(k) for k, e in self._entries.items() for _ in range(e.count)]
        self.unregister(handles)

    # -- the sentry thread -----------------------------------------------------------------------------------
    def _loop(self, entry: _Entry) -> None:
        from emufleet.routines.executor import Executor

        controller = self.ctx.controller

        def cancelled() -> bool:
            return entry.cancelled

        key = entry.spec.routine
        try:
            while True:
                controller.sleep(entry.frequency, honour_pause=False, boundary=True, cancelled=cancelled)
                routine = self.ctx.registry.find(key) if self.ctx.registry is not None else None
                error: str | None = None
                if routine is None:
                    error = f"sentry routine {key!r} is not in the registry"
                else:
                    ex = Executor(self.ctx, routine, sentry=key, cancelled=cancelled)
                    try:
                        for i, step in enumerate(routine.steps):
                            ex.run_step(step, f"steps[{i}]")
                    except RoutineStopped:
                        raise
                    except Exception as exc:  # any failure of the sentry routine maps to on_failure
                        error = str(exc) if isinstance(exc, RoutineError) else f"{type(exc).__name__}: {exc}"
                self._apply(entry, error)
        except RoutineStopped:
            return

    def _apply(self, entry: _Entry, error: str | None) -> None:
        spec = entry.spec
        action = spec.on_success if error is None else spec.on_failure
        outcome = SentryOutcome(spec.routine, error is None, action, error)
        with self._lock:
            self.outcomes.append(outcome)
        if error is not None:
            log.log(_SEVERITY[spec.severity], "%s: sentry %s failed (%s): %s", self.ctx.bot_id, spec.routine,
                    action, error)
        controller = self.ctx.controller
        if entry.cancelled:
            return
        if action == "resume":
            controller.resume()
        elif action == "pause":
            controller.pause()
        elif action == "stop":
            controller.stop(force=False)
        else:
            controller.stop(force=True)
