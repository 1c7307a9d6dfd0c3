"""The one object through which a bot's loops interrupt each other (docs/supervision.md, "The bot session").

The supervision loop (:mod:`emufleet.bot.supervision`), an operator (:meth:`BotSession.request_recovery`) and a
stop (:meth:`BotSession.stop`) never set flags on the attempt runner: they raise an :class:`Interrupt` in the bot's
:class:`InterruptScope`, which stops the running step through the controller. The attempt runner takes it when the
step returns and hands it to its handler (:class:`Handler`); whoever handles it marks it so (``handled_by``).

Like a trio cancel scope, an interrupt belongs to the *scope* it was raised in. A scope ends whenever the bot is
shielded (``with scope.shielded("recovering")``, the start barrier) and between attempts (outside
``with scope.running()``): entering a shield spends the
pending interrupt (it is handled by what the shield does), a shield refuses new interrupts, and leaving it opens a
new scope. A fault a health check saw before a recovery therefore cannot be spent after it: it was raised in (or
for) a scope that has ended, and is refused (``handled_by="stale"``). A stop is never refused and never spent::

    generation = scope.generation                # before a slow check
    fault = await call(supervisor.health_check)  # meanwhile a recovery may have ended the scope
    scope.interrupt(Interrupt(fault, Handler.LADDER), generation=generation)   # False: stale, dropped

Thread-safe: an operator's request may come from any thread; the loops themselves run on the bot's event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum

from emufleet.bot.recovery import Fault, FaultKind, Rung
from emufleet.routines import Controller

__all__ = ["Handler", "Interrupt", "InterruptScope"]


class Handler(StrEnum):
    """Who handles an interrupt."""

    LADDER = "ladder"  # a fault: the recovery ladder climbs for it (and spends the failure budget)
    LOCK = "lock"  # the instance lock was lost: the ladder re-acquires it, or the bot ends stopped
    OPERATOR = "operator"  # an operator's rung: taken first, no budget spent
    SESSION = "session"  # the bot stops: the lifecycle ends it


@dataclass(eq=False, slots=True)
class Interrupt:
    """What interrupted the running step (``fault``), who handles it, and whether it has been handled.

    ``rung``: the operator's rung (``Handler.OPERATOR``). ``generation``: the scope it was raised in (set by
    :meth:`InterruptScope.interrupt`). ``handled_by``: who handled it (``None`` while pending).
    """

    fault: Fault
    handler: Handler
    rung: Rung | None = None
    generation: int = -1
    handled_by: str | None = field(default=None)

    @classmethod
    def for_fault(cls, fault: Fault) -> Interrupt:
        """The interrupt a fault raises: the lock's for ``LOCK_LOST``, the ladder's otherwise."""
        return cls(fault, Handler.LOCK if fault.kind is FaultKind.LOCK_LOST else Handler.LADDER)

    @classmethod
    def operator(cls, rung: Rung, *, paused: bool) -> Interrupt:
        fault = Fault(FaultKind.OPERATOR, f"an operator asked for {rung}", {"rung": str(rung), "paused": paused})
        return cls(fault, Handler.OPERATOR, rung)

    @property
    def handled(self) -> bool:
        return self.handled_by is not None

    def handle(self, by: str) -> None:
        """Mark it handled by ``by`` (the first handler counts)."""
        if self.handled_by is None:
            self.handled_by = by


class InterruptScope:
    """The bot's interrupt scope: at most one pending interrupt, shields, and the stop.

    Args:
        controller: the bot's controller; an accepted interrupt stops it (the step raises ``RoutineStopped``
            within 100 ms); starting an attempt or leaving a shield resets it.
    """

    def __init__(self, controller: Controller) -> None:
        self.controller = controller
        self._lock = threading.Lock()
        self._pending: Interrupt | None = None
        self._deferred: Interrupt | None = None  # an operator's request made while shielded
        self._shield: str | None = "idle"  # no attempt runs yet
        self._generation = 0
        self._stop: Interrupt | None = None
        self.refused: list[Interrupt] = []  # the last few stale or superseded ones (diagnostics, tests)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._woken: asyncio.Event | None = None

    # -- state ---------------------------------------------------------------------------------------------------
    @property
    def generation(self) -> int:
        """The current scope; a new one begins each time a shield ends."""
        return self._generation

    @property
    def stopping(self) -> bool:
        """The bot was stopped (:meth:`stop`); never reset."""
        return self._stop is not None

    @property
    def shield(self) -> str | None:
        """Why no interrupt is accepted now (``"recovering"``, ``"barrier"``, ``"between attempts"``…), or ``None``."""
        return self._shield

    @property
    def pending(self) -> Interrupt | None:
        return self._pending

    # -- raising -------------------------------------------------------------------------------------------------
    def interrupt(self, interrupt: Interrupt, *, generation: int | None = None) -> bool:
        """Raise ``interrupt`` in the current scope (or in scope ``generation``, when it was decided then).

        Returns whether it was accepted: refused while shielded, when another is pending, when stopping, or
        when ``generation`` is not the current scope (a stale observation); a refused one is marked handled
        (``"stale"``, ``"shielded"`` or ``"superseded"``) and never spent.
        """
        with self._lock:
            reason = ("stopping" if self._stop is not None else "shielded" if self._shield is not None
                      else "stale" if generation is not None and generation != self._generation
                      else "superseded" if self._pending is not None else None)
            if reason is not None:
                interrupt.handle(reason)
                self.refused = [*self.refused[-9:], interrupt]
                return False
            interrupt.generation = self._generation
            self._pending = interrupt
        self.controller.stop()
        return True

    def request(self, rung: Rung) -> None:
        """An operator's rung: raised now when the scope accepts it, else when the current shield ends (a newer
        request replaces an older one not yet raised)."""
        with self._lock:
            if self._shield is not None or self._pending is not None:
                self._deferred = Interrupt.operator(rung, paused=False)
                return
        self.interrupt(Interrupt.operator(rung, paused=self.controller.paused))

    def stop(self) -> None:
        """The bot stops: the running step stops, waits (:meth:`sleep`, :meth:`until_stopped`) end at once, and
        every later attempt and recovery sees :attr:`stopping`. Safe from any thread."""
        with self._lock:
            if self._stop is None:
                self._stop = Interrupt(Fault(FaultKind.OPERATOR, "stopped"), Handler.SESSION)
        self.controller.stop()
        if self._loop is not None and self._woken is not None:
            self._loop.call_soon_threadsafe(self._woken.set)

    # -- waiting (on the bot's event loop) -----------------------------------------------------------------------
    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The bot runs on ``loop`` (waits wake there on :meth:`stop`)."""
        self._loop, self._woken = loop, asyncio.Event()
        if self._stop is not None:
            self._woken.set()

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds`` unless stopped first."""
        await self.until_stopped(asyncio.sleep(seconds))

    async def until_stopped(self, awaitable: Awaitable[object]) -> None:
        """Await ``awaitable`` unless stopped first (then it is cancelled)."""
        assert self._woken is not None, "bind() the scope to its loop first"
        waiter = asyncio.ensure_future(awaitable)
        stopped = asyncio.ensure_future(self._woken.wait())
        try:
            if self._stop is None:
                await asyncio.wait({waiter, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            stopped.cancel()

    # -- taking -------------------------------------------------------------------------------------------------
    def take(self) -> Interrupt | None:
        """The pending interrupt (the step stopped for it), removed from the scope; ``None`` when none is."""
        with self._lock:
            taken, self._pending = self._pending, None
            return taken

    @contextmanager
    def running(self) -> Iterator[None]:
        """An attempt runs its steps: interrupts are accepted inside (a new scope; the controller reset, or stopped
        again when stopping). On exit the scope is shielded again (``"idle"``): what is still pending then is
        marked handled by the attempt's end, never carried into the next attempt."""
        with self._lock:
            self._shield, self._pending = None, None
            self._generation += 1
            deferred, self._deferred = self._deferred, None
        self._reset(repause=False)
        if deferred is not None:
            self._raise_deferred(deferred)
        try:
            yield
        finally:
            with self._lock:
                self._shield = "idle"
                self._generation += 1
                left, self._pending = self._pending, None
            if left is not None:
                left.handle("attempt ended")

    @contextmanager
    def shielded(self, reason: str, *, repause: bool = False) -> Iterator[Interrupt | None]:
        """Shield a running attempt for ``reason``: yields the interrupt pending on entry (now the shield's to
        handle; marked handled by ``reason`` when the shield ends; an operator's is raised after the shield
        instead), refuses new ones meanwhile (a controller an interrupt stopped runs again inside), and opens a new
        scope on exit: the controller is reset (stopped again when stopping; paused again with ``repause`` or when
        it was paused as the shield ended)."""
        with self._lock:
            outer, self._shield = self._shield, reason
            absorbed, self._pending = self._pending, None
            if absorbed is not None and absorbed.handler is Handler.OPERATOR:  # an operator's: after the shield
                assert absorbed.rung is not None
                self._deferred = self._deferred or absorbed
                absorbed = None
        if outer is None and self._stop is None and self.controller.stopped:
            self.controller.reset()  # the interrupt's stop has done its job: the shield's own work may run
        try:
            yield absorbed
        finally:
            if absorbed is not None:
                absorbed.handle(reason)
            with self._lock:
                self._shield = outer
                self._generation += 1
                deferred = self._deferred if outer is None else None
                if outer is None:
                    self._deferred = None
            if outer is None:
                self._reset(repause=repause)
            if deferred is not None:
                self._raise_deferred(deferred)

    def _reset(self, *, repause: bool) -> None:
        paused = self.controller.paused
        self.controller.reset()
        if self._stop is not None:
            self.controller.stop()
        elif repause or paused:
            self.controller.pause()

    def _raise_deferred(self, deferred: Interrupt) -> None:
        assert deferred.rung is not None
        self.interrupt(Interrupt.operator(deferred.rung, paused=self.controller.paused))
