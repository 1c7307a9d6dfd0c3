"""A bot's studio hooks under Prefect: its flight recorder (:mod:`emufleet.sessions.flight`) and its feed to the
console's live wall (:class:`emufleet.wall.LiveFeed`), both fed by one recording of its device; the operator's
*Record now* command; the markdown artifact that links each flight session from the bot's flow run (its folder on
the bot's host, what it holds, the command that replays it).

``run_bot`` hooks it in a few lines::

    studio = BotStudio(spec, run_id, observer, client, runtime)
    session = BotSession(..., observer=studio.observer, connect=studio.connect, on_step=studio.on_step)
    handle.on_recover = studio.commands(session.request_recovery)
    ...
    await studio.close()          # before the observer closes: the last session's artifact is written
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import ArtifactCreate

from adapters.registry import artifact_key
from adapters.runtime import LaunchRuntime
from emufleet.bot.observer import BotObserver
from emufleet.bot.spec import BotSpec
from emufleet.device.interface import RecoverableDevice
from emufleet.errors import EmufleetError, OrchestrationError
from emufleet.routines.context import StepEvent
from emufleet.sessions.attach import BotRecording
from emufleet.sessions.flight import FlightObserver, FlightRecorder, flight_dir
from emufleet.sessions.recording import Entry
from emufleet.wall import LiveFeed, WallPublisher

__all__ = ["RECORD_COMMAND", "BotStudio", "session_key", "session_markdown"]

RECORD_COMMAND = "record"  # the operator command (beside the recovery rungs) that writes the ring now
_log = logging.getLogger(__name__)


def session_key(group: str, bot: int) -> str:
    """The artifact key of a bot's flight sessions (one history per bot on the Artifacts page)."""
    return artifact_key("session", group, "bot", bot)


def session_markdown(folder: Path, *, reason: str, host: str, routine: str) -> str:
    """The artifact's text: the reason, where the session is, what it holds, how to replay it."""
    from emufleet.sessions import Session

    try:
        session = Session(folder)
        held = (f"{len(session.captures)} captures ({len({e.frame for e in session.captures})} distinct frames), "
                f"{len(session.inputs)} inputs over {session.events[-1].t if session.events else 0:.1f} s")
        end = session.end
        failed = f"\n\nFailing step: `{end.step}`: {end.error}" if end is not None and end.step is not None else ""
    except EmufleetError as exc:  # the artifact still says where the folder is
        held, failed = f"unreadable: {exc}", ""
    return (f"### Flight recorder: {reason}\n\nSession folder on host `{host}`: `{folder}`\n\n{held}{failed}\n\n"
            f"Replay offline:\n\n```\nemufleet sessions replay {folder} {routine}\n```\n")


class BotStudio:
    """One bot's flight recorder and live-wall feed, wired for ``run_bot``. With ``record.enabled: false`` there is
    no ring; the wall's feed is always there (it publishes only while someone looks).

    Args:
        spec: the bot (its ``record`` settings, its database). run_id: its flow run (sessions go under
            :func:`~emufleet.sessions.flight.flight_dir` of it; artifacts attach to it). observer: the bot's observer.
        client: the Prefect client artifacts are written with. runtime: the launch's (its database engine is shared).
    """

    def __init__(self, spec: BotSpec, run_id: UUID, observer: BotObserver, client: PrefectClient,
                 runtime: LaunchRuntime) -> None:
        from emufleet import db

        self.spec = spec
        self.run_id = run_id
        self.client = client
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[None]] = set()
        self.recorder: FlightRecorder | None = None
        self.flight: FlightObserver | None = None
        self.observer: BotObserver = observer
        engine = runtime.memo(("db", spec.database_url), lambda: db.engine(spec.database_url))
        # one publishing thread for the launch's bots on this database (it stops with the last bot's feed)
        publisher = runtime.memo(("wall", spec.database_url), lambda: WallPublisher(engine))
        self.feed = LiveFeed(engine, spec.instance, group=spec.group, bot=spec.bot,
                             publisher=publisher)
        sinks: list[Callable[[Entry], None]] = [self.feed.add]
        if spec.record.enabled:
            self.recorder = FlightRecorder(spec.record, serial=spec.instance.serial, routine=spec.routine,
                                           folder=flight_dir(spec.group, spec.bot, str(run_id)))
            self.flight = FlightObserver(observer, self.recorder, on_session=self._written)
            self.observer = self.flight
            sinks.append(self.recorder.add)
        self.recording = BotRecording(_fan_out(sinks), self.recorder.recording.steps if self.recorder else None)

    def connect(self) -> RecoverableDevice:
        """The session's ``connect``: ADB to the bot's device, recorded; the wall knows the bot drives it now."""
        self.feed.start()
        return self.recording.connect(self.spec.instance.serial, self.spec.connect_timeout_s)()

    @property
    def on_step(self) -> Callable[[StepEvent], None]:
        return self.recording.on_step(self.feed.on_step)

    def commands(self, recover: Callable[[str], None]) -> Callable[[str], None]:
        """The bot's operator-command hook: :data:`RECORD_COMMAND` writes the ring, any other goes to ``recover``.
        The hook raises ``OrchestrationError`` for a record command to a bot that keeps no flight recorder."""
        def command(name: str) -> None:
            if name != RECORD_COMMAND:
                recover(name)
            elif self.flight is not None:
                self.flight.request("operator")
            else:
                raise OrchestrationError(f"bot {self.spec.bot} keeps no flight recorder (record.enabled is false)")
        return command

    def _written(self, folder: Path, reason: str) -> None:  # from the writing thread
        self._loop.call_soon_threadsafe(self._spawn, folder, reason)

    def _spawn(self, folder: Path, reason: str) -> None:
        task = self._loop.create_task(self._artifact(folder, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _artifact(self, folder: Path, reason: str) -> None:
        spec = self.spec
        try:
            await self.client.create_artifact(ArtifactCreate(
                key=session_key(spec.group, spec.bot), type="markdown",
                description=f"Flight recorder session: {reason}"[:500], flow_run_id=self.run_id,
                data=session_markdown(folder, reason=reason, host=spec.instance.host, routine=spec.routine)))
        except Exception as exc:  # a busy or absent server must not fail the bot
            _log.warning("flight recorder: artifact for %s not written: %s", folder, exc)

    async def close(self) -> None:
        """Stop the wall's feed; wait for sessions being written (≤ 30 s) and their artifacts (≤ 5 s)."""
        await asyncio.to_thread(self.feed.close)
        if self.flight is not None:
            await asyncio.to_thread(self.flight.wait)
            await asyncio.sleep(0)  # the writers' call_soon_threadsafe callbacks run
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)


def _fan_out(sinks: list[Callable[[Entry], None]]) -> Callable[[Entry], None]:
    def sink(entry: Entry) -> None:
        for each in sinks:
            each(entry)
    return sink
