"""What a bot session tells the world: its status, its events, its failure evidence and its tallies.

One :class:`Reporter` per session is the only writer of the bot's :class:`~emufleet.groups.status.BotStatus` and
the only caller of its :class:`~emufleet.bot.observer.BotObserver`; the lifecycle, the attempt runner, the
recovery ladder and the supervision loop report through it. It is also the seam for whatever watches a bot from
inside its process (a flight recorder, a degraded capture rate): wrap or replace the observer, or read
:attr:`Reporter.status` and :meth:`Reporter.tally`; nothing here decides anything.

Called on the bot's event loop, except :meth:`Reporter.account_changed`, which the account provider calls from a
bot thread (it hops to the loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.bot.events import BotEvent, BotRef, EventKind, PayloadValue
from emufleet.bot.steps import BlockingCall
from emufleet.groups.status import BotStatus
from emufleet.routines.accounts import AccountRef

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.observer import BotObserver
    from emufleet.bot.spec import BotSpec
    from emufleet.bot.supervisor import Supervisor

__all__ = ["ERRORS_KEPT", "STEP_EVENT_EVERY_S", "Reporter", "Tally"]

log = logging.getLogger(__name__)
STEP_EVENT_EVERY_S = 30.0  # bot.step-completed events are sampled (the "no step for 10 min" automation)
ERRORS_KEPT = 50  # the newest errors a bot keeps: its record is bounded however long it runs (and it is a label)


@dataclass(slots=True)
class Tally:
    """A bot run's figures, folded into its last :class:`~emufleet.groups.status.BotStatus`: errors of failed
    attempts (the newest :data:`ERRORS_KEPT`), faults, recoveries by rung, seconds around the step calls
    (``step_s``) and inside the engine (``engine_s``)."""

    errors: deque[str] = field(default_factory=lambda: deque(maxlen=ERRORS_KEPT))
    faults: int = 0
    recoveries: Counter[str] = field(default_factory=Counter)
    step_s: float = 0.0
    engine_s: float = 0.0


class Reporter:
    """Status, events and evidence of one bot (see the module docstring).

    Args:
        spec: the bot. observer: receives everything. accounts: the bot's accounts (the status and every event
            name the current one). flow_run_id: the bot's flow run (events carry it; ``None`` outside Prefect).
        evidence_dir: where failure frames go (``None``: nowhere).
    """

    def __init__(self, spec: BotSpec, observer: BotObserver, *, accounts: BotAccounts | None = None,
                 flow_run_id: str | None = None, evidence_dir: Path | None = None) -> None:
        self.spec = spec
        self.observer = observer
        self.accounts = accounts
        self.flow_run_id = flow_run_id
        self.evidence_dir = evidence_dir
        self.status = BotStatus(group=spec.group, bot=spec.bot, instance=spec.instance)
        self.tally = Tally()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_step_event = 0.0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The session runs on ``loop``: account changes from bot threads are reported there."""
        self._loop = loop
        if self.accounts is not None:
            self.accounts.on_change = self.account_changed

    def ref(self) -> BotRef:
        current = self.accounts.current if self.accounts is not None else None
        return BotRef(self.spec.group, self.spec.bot, self.spec.instance, self.flow_run_id,
                      current.device_account if current is not None else self.status.account)

    def set(self, **fields: object) -> None:
        """Change the status (and the account figures, always current); the observer sees real changes only."""
        if self.accounts is not None:
            current = self.accounts.current
            fields.setdefault("account", current.device_account if current else self.status.account)
            fields.update(accounts_completed=self.accounts.completed, accounts_failed=self.accounts.failed)
        status = self.status.model_copy(update=fields)
        if status != self.status:
            self.status = status
            self.observer.status(status)

    def emit(self, kind: EventKind, **payload: PayloadValue) -> None:
        self.observer.event(BotEvent(kind, self.ref(), dict(payload)))

    def account_changed(self, kind: str, account: AccountRef, reason: str | None) -> None:
        """From a bot thread: an account lease changed; reported as an event on the event loop."""
        ref = self.ref().with_account(account.device_account)
        event = BotEvent(EventKind(kind), ref, {"pool": account.pool, "reason": reason})
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.observer.event, event)

    def notified(self, message: str, screenshot: bool) -> None:
        """From a bot thread: a routine's ``Notify`` step; a ``bot.notify`` event on the event loop."""
        event = BotEvent(EventKind.NOTIFY, self.ref(), {"message": message, "screenshot": screenshot})
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.observer.event, event)

    def step_done(self, label: str, *, index: int, total: int, step_s: float, engine_s: float) -> None:
        """Top-level step ``index`` (``label``) completed: counters, progress, a sampled ``bot.step-completed``."""
        self.tally.step_s += step_s
        self.tally.engine_s += engine_s
        self.set(steps_done=self.status.steps_done + 1)
        self.observer.progress(index + 1, total)
        now = time.monotonic()
        if now - self._last_step_event >= STEP_EVENT_EVERY_S:
            self._last_step_event = now
            self.emit(EventKind.STEP_COMPLETED, step=label, steps_done=self.status.steps_done)

    def heartbeat(self, supervisor: Supervisor) -> None:
        report = supervisor.last_report
        self.emit(EventKind.HEARTBEAT, state=str(self.status.state), steps_done=self.status.steps_done,
                  capture_p50_ms=report.capture_ms_p50 if report else None,
                  capture_p95_ms=report.capture_ms_p95 if report else None, **supervisor.metrics.payload())

    async def evidence(self, supervisor: Supervisor, reason: str, call: BlockingCall) -> None:
        """Write the failure evidence for ``reason`` (through ``call``, off the loop) and report it. A courtesy:
        a failure to write is logged, never raised."""
        if self.evidence_dir is None or self.spec.recovery.evidence_frames == 0:
            return
        try:
            frames = await call(supervisor.evidence, self.evidence_dir, reason)
        except Exception as exc:  # evidence is a courtesy: never let it fail the bot
            log.warning("bot %s: failure evidence not written: %s", self.spec.bot, exc)
            return
        if frames:
            self.set(last_failure=str(frames[-1]))
            recorder = supervisor.recorder
            self.observer.evidence(reason, frames, recorder.step, recorder.scores)
