"""The flight recorder: each bot keeps its last ``record.seconds`` of frames and inputs in a bounded ring and writes
them as a session (docs/sessions.md) when it gives up, when it is stuck, and when an operator asks.

* :class:`RecordSettings` is the group's ``record:`` section (also a :class:`~emufleet.bot.BotSpec` field).
* :class:`FlightRecorder` is the ring; its :attr:`~FlightRecorder.recording` wraps the bot's device and step hook
  (:class:`~emufleet.sessions.attach.BotRecording`). Frames are kept by reference, a capture identical to the one
  before shares its array, and the ring holds at most ``max_frames`` distinct frames (≈ 1.5 MB each at 540×960)
  and ``seconds`` of history, whichever is reached first.
* :class:`FlightObserver` wraps the bot's :class:`~emufleet.bot.observer.BotObserver`: on ``bot.stuck`` and
  ``bot.gave-up`` it snapshots the ring at once and writes the session on a thread of its own (the observer is
  called on the event loop and must not wait), then tells ``on_session`` where it went.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from emufleet.bot.events import BotEvent
from emufleet.bot.observer import BotObserver
from emufleet.groups.record import RecordSettings
from emufleet.groups.status import BotStatus
from emufleet.routines.context import MatchScore
from emufleet.sessions.attach import BotRecording
from emufleet.sessions.format import ForegroundEvent, ReadEvent
from emufleet.sessions.recording import Entry, SessionWriter, same_frame
from emufleet.sessions.store import group_sessions_root, slug

__all__ = ["FlightObserver", "FlightRecorder", "RecordSettings", "flight_dir"]

log = logging.getLogger(__name__)


def flight_dir(group: str, bot: int, run: str) -> Path:
    """``<state>/sessions/<group>/bot-<bot>/<run>``: where one bot run's flight sessions go (not created here)."""
    return group_sessions_root(group) / f"bot-{bot}" / slug(run)


class FlightRecorder:
    """The last ``settings.seconds`` of one bot's entries; thread-safe.

    Args:
        settings: the ring's bounds. serial, routine: for the sessions' headers. folder: where sessions go, one
            sub-folder each (``<YYYYmmdd-HHMMSS>-<reason>``).
    """

    def __init__(self, settings: RecordSettings, *, serial: str, routine: str | None, folder: Path) -> None:
        self.settings = settings
        self.serial = serial
        self.routine = routine
        self.folder = folder
        self.recording = BotRecording(self.add)
        self._lock = threading.Lock()
        self._ring: deque[Entry] = deque()
        self._images: Counter[int] = Counter()  # id(array) -> frame entries sharing it
        self._last_image: np.ndarray | None = None
        self._foreground: str | None = None  # known from entries already dropped
        self.written: list[Path] = []

    def add(self, entry: Entry) -> None:
        """Append ``entry`` (a frame equal to the previous one shares its array), then drop what is out of bounds."""
        with self._lock:
            image = entry.image
            if image is not None:
                last = self._last_image
                if last is not None and same_frame(last, image):
                    entry = Entry(entry.event, last, entry.blob)
                else:
                    self._last_image = image
                self._images[id(entry.image)] += 1
            self._ring.append(entry)
            newest = entry.event.t
            while self._ring and (newest - self._ring[0].event.t > self.settings.seconds
                                  or len(self._images) > self.settings.max_frames):
                self._drop(self._ring.popleft())

    def _drop(self, entry: Entry) -> None:
        event = entry.event
        if entry.image is not None:
            key = id(entry.image)
            self._images[key] -= 1
            if self._images[key] <= 0:
                del self._images[key]
        elif isinstance(event, ForegroundEvent):
            self._foreground = event.package
        elif isinstance(event, ReadEvent) and event.kind == "foreground_app":
            self._foreground = event.value

    def snapshot(self) -> tuple[list[Entry], str | None]:
        """The ring's entries (oldest first) and the foreground app known before the first of them."""
        with self._lock:
            return list(self._ring), self._foreground

    @property
    def frames(self) -> int:
        """Distinct frames held."""
        with self._lock:
            return len(self._images)

    def write(self, reason: str, entries: Sequence[Entry] | None = None, foreground: str | None = None) -> Path | None:
        """Write ``entries`` (default: a snapshot now) as a session with the end ``reason`` and the failing step the
        routine reported; ``None`` when there is nothing to write or ``max_sessions`` were written.

        Raises:
            OSError: the session could not be written.
        """
        if entries is None:
            entries, foreground = self.snapshot()
        with self._lock:
            if not entries or len(self.written) >= self.settings.max_sessions:
                return None
            name = f"{time.strftime('%Y%m%d-%H%M%S', time.localtime(entries[-1].event.t))}-{slug(reason)[:40]}"
            folder = self.folder / name
            n = 1
            while folder.exists() or folder in self.written:
                n += 1
                folder = self.folder / f"{name}-{n}"
            self.written.append(folder)
        first = entries[0].event.t
        with SessionWriter(folder, serial=self.serial, routine=self.routine, reason=reason, started_at=first) as out:
            if foreground is not None and not isinstance(entries[0].event, ForegroundEvent):
                out.add(Entry(ForegroundEvent(t=first, package=foreground)))
            for entry in entries:
                out.add(entry)
            out.finish(self.recording.steps.end_event(reason, at=entries[-1].event.t))
        return folder


class FlightObserver:
    """``inner`` (the bot's observer), with the flight recorder written on ``bot.stuck`` and ``bot.gave-up``.

    ``on_session(folder, reason)`` is called from the writing thread once a session is written (the Prefect adapter
    links it from the bot's flow run). :meth:`request` writes one for an operator; :meth:`wait` joins the writes.
    """

    TRIGGERS = {"bot.stuck": "stuck", "bot.gave-up": "gave up"}

    def __init__(self, inner: BotObserver, recorder: FlightRecorder, *,
                 on_session: Callable[[Path, str], None] | None = None) -> None:
        self.inner = inner
        self.recorder = recorder
        self.on_session = on_session
        self._threads: list[threading.Thread] = []

    def status(self, status: BotStatus) -> None:
        self.inner.status(status)

    def progress(self, done: int, total: int) -> None:
        self.inner.progress(done, total)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        self.inner.evidence(reason, frames, step, scores)

    def event(self, event: BotEvent) -> None:
        self.inner.event(event)
        trigger = self.TRIGGERS.get(str(event.kind))
        if trigger is not None:
            why = event.payload.get("reason")
            self.request(f"{trigger}: {why}" if why else trigger)

    def request(self, reason: str) -> None:
        """Write the ring as it is now as a session ending with ``reason``, on a thread; never raises."""
        entries, foreground = self.recorder.snapshot()

        def write() -> None:
            try:
                folder = self.recorder.write(reason, entries, foreground)
            except OSError as exc:  # a courtesy, like evidence: never let it fail the bot
                log.warning("flight recorder: session not written: %s", exc)
                return
            if folder is not None and self.on_session is not None:
                self.on_session(folder, reason)

        thread = threading.Thread(target=write, name="emufleet-flight-recorder", daemon=True)
        self._threads.append(thread)
        thread.start()

    def wait(self, timeout_s: float = 30.0) -> list[Path]:
        """Wait until the sessions being written are (at most ``timeout_s`` s each); returns every one written."""
        for thread in self._threads:
            thread.join(timeout_s)
        return list(self.recorder.written)

