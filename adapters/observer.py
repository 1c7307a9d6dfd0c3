"""The bot session's observer under Prefect: status as flow-run labels, events as Prefect events, progress and
failure evidence as artifacts (:class:`emufleet.bot.observer.BotObserver`).

The session calls it from the event loop and never waits: labels and the progress artifact are written by one
writer task at most every :data:`STATUS_FLUSH_S` s, off the step path (each write is a server database write:
per-step writes from ten bots would contend on SQLite), one bot at a time per launch
(:meth:`adapters.runtime.LaunchRuntime.status_write`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence
from pathlib import Path
from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import PrefectClient

from adapters import events
from adapters.evidence import create_evidence_artifact, evidence_key
from adapters.logged import logged
from adapters.registry import artifact_key, status_labels
from adapters.runtime import BotHandle, LaunchRuntime
from emufleet.bot.events import BotEvent
from emufleet.groups import TERMINAL_STATES, BotState, BotStatus
from emufleet.routines.context import MatchScore

__all__ = ["STATUS_FLUSH_S", "PrefectObserver"]

STATUS_FLUSH_S = 1.0
_log = logging.getLogger(__name__)


class PrefectObserver:
    """Maps one bot session's reports onto its flow run."""

    def __init__(self, flow_run_id: UUID, runtime: LaunchRuntime, client: PrefectClient, handle: BotHandle,
                 status: BotStatus) -> None:
        self.flow_run_id = flow_run_id
        self.runtime = runtime
        self.client = client
        self.handle = handle
        self.current = status
        self.step_progress: tuple[int, int] = (0, 0)  # steps done / steps of the routine
        self._written: dict[str, object] = {}
        self._progress_id: UUID | None = None
        self._progress_written: tuple[int, int] = (0, 0)
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        handle.on_change.append(self._dirty)

    # -- BotObserver -----------------------------------------------------------------------------------------------
    def status(self, status: BotStatus) -> None:
        self.current = status
        self._dirty.set()

    def event(self, event: BotEvent) -> None:
        events.emit(event)

    def progress(self, done: int, total: int) -> None:
        self.step_progress = (done, total)
        self._dirty.set()

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        s = self.current
        self._spawn(create_evidence_artifact(self.client, frames, reason=reason, step=step, scores=scores,
                                             flow_run_id=self.flow_run_id, key=evidence_key(s.group, s.bot)))

    # -- writing ---------------------------------------------------------------------------------------------------
    def _spawn(self, coro: Awaitable[object]) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception as exc:  # a busy or absent server must not fail the bot
                _log.warning("artifact not written: %s", exc)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def snapshot(self) -> BotStatus:
        """The status to show: the session's, with the watcher's pause/stop requests folded in."""
        status = self.current
        if self.handle.cancelled and status.state not in TERMINAL_STATES:
            status = status.model_copy(update={"state": BotState.STOPPING})
        elif self.handle.paused and status.state is BotState.RUNNING:
            status = status.model_copy(update={"state": BotState.PAUSED})
        return status

    async def flush(self) -> None:
        labels = status_labels(self.snapshot())
        changed = {k: v for k, v in labels.items() if self._written.get(k) != v}
        if changed:
            await self.client.update_flow_run_labels(self.flow_run_id, changed)
            self._written.update(changed)

    async def writer(self) -> None:
        """Write labels and progress at most every :data:`STATUS_FLUSH_S` s until cancelled."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            async with self.runtime.status_write():
                with logged(_log, f"bot {self.current.bot}: writing its status labels (the next change retries)"):
                    await self.flush()
                if self.step_progress != self._progress_written:
                    await self._progress(*self.step_progress)
                    self._progress_written = self.step_progress
            await asyncio.sleep(STATUS_FLUSH_S)

    async def _progress(self, done: int, total: int) -> None:
        value = 100.0 * done / total if total else 100.0
        with logged(_log, f"bot {self.current.bot}: writing its progress artifact (display only)"):
            if self._progress_id is None:
                s = self.current
                self._progress_id = await acreate_progress_artifact(
                    value, key=artifact_key(s.group, f"bot{s.bot}", "progress"),
                    description=f"{s.group} bot {s.bot} on {s.instance}: steps of the current attempt")
            else:
                await aupdate_progress_artifact(self._progress_id, value)

    async def close(self) -> None:
        """Wait for pending artifacts, then write the final status (and a full progress bar for a completed bot)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)
        if self.current.state is BotState.COMPLETED and self.step_progress != (1, 1):
            await self._progress(1, 1)
        with logged(_log, f"bot {self.current.bot}: writing its last status labels (its run's state still says "
                          "how it ended)"):
            await self.flush()

