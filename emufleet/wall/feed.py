"""A bot's feed to the live wall: its own captures, published while someone looks, never an extra capture.

:class:`LiveFeed` is a sink of the bot's recording (:class:`~emufleet.sessions.attach.BotRecording`: it sees every
capture and step event). Taking a frame costs one reference; a thread of the feed's own, every :data:`PUBLISH_S`
seconds, asks the database whether anyone looks and, if so and the bot captured a frame that differs from the one
the wall has, encodes it (a :data:`THUMB_WIDTH`-px thumbnail, or device size for the full view) with the checks of
the bot's last image step and publishes it. It also marks the instance as driven by the bot, so that no idle
capturer captures it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import cv2
import numpy as np
from sqlalchemy import Engine

from emufleet.errors import DatabaseError
from emufleet.routines.context import MatchScore, StepEvent
from emufleet.sessions.recording import Entry, same_frame
from emufleet.wall import store

__all__ = ["PUBLISH_S", "THUMB_WIDTH", "LiveFeed", "encode", "overlay_json"]

log = logging.getLogger(__name__)
T = TypeVar("T")
PUBLISH_S = 1.0
THUMB_WIDTH = 270
DRIVE_RENEW_S = 10.0


def encode(frame: np.ndarray, *, full: bool) -> bytes:
    """``frame`` (device BGR) as JPEG: device size when ``full``, else :data:`THUMB_WIDTH` px wide."""
    if not full and frame.shape[1] > THUMB_WIDTH:
        height = round(frame.shape[0] * THUMB_WIDTH / frame.shape[1])
        frame = cv2.resize(frame, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85 if full else 70])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return data.tobytes()


def overlay_json(scores: tuple[MatchScore, ...]) -> str:
    """A step's checks as JSON: ``[{template, score, found, threshold, region, location}]``, boxes in device px
    as ``[x1, y1, x2, y2]``."""
    return json.dumps([{"template": s.template, "score": s.score, "found": s.found, "threshold": s.threshold,
                        "region": list(s.region.as_tuple()) if s.region else None,
                        "location": list(s.location.as_tuple()) if s.location else None} for s in scores])


class LiveFeed:
    """The live wall's feed of one bot on ``host``/``serial``; :meth:`start` before the bot's first capture,
    :meth:`close` when it ends. Database errors are logged, never raised into the bot."""

    def __init__(self, engine: Engine, host: str, serial: str, *, group: str, bot: int) -> None:
        self.engine = engine
        self.host, self.serial, self.group, self.bot = host, serial, group, bot
        self._lock = threading.Lock()
        self._frame: tuple[np.ndarray, float] | None = None
        self._step: tuple[str, tuple[MatchScore, ...]] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: np.ndarray | None = None  # the frame the wall has
        self.published = 0

    # -- sinks (bot threads: one reference each) ----------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        if entry.image is not None:
            self._frame = (entry.image, entry.event.t)

    def on_step(self, event: StepEvent) -> None:
        if event.kind != "started" and event.scores and event.sentry is None:
            self._step = (f"{event.path} {event.action}", event.scores[-6:])

    # -- the publishing thread ---------------------------------------------------------------------------------------
    def start(self) -> None:
        """Mark the instance as driven by the bot (now, before it captures), then start publishing (once: a second
        call, as when the bot opens its device again, only marks it again)."""
        self._safe(lambda: store.drive(self.engine, self.host, self.serial, group=self.group, bot=self.bot))
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"emufleet-wall-{self.serial}", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop publishing and release the instance."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._safe(lambda: store.release(self.engine, self.host, self.serial))

    def _safe(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except DatabaseError as exc:  # the wall is a courtesy: never let it fail the bot
            log.warning("live wall (%s): %s", self.serial, exc)
            return None

    def _run(self) -> None:
        watch, checked, renewed, sent = store.Watch(False), 0.0, time.monotonic(), None
        while not self._stop.wait(PUBLISH_S):
            now = time.monotonic()
            if now - renewed >= DRIVE_RENEW_S:
                renewed = now
                self._safe(lambda: store.drive(self.engine, self.host, self.serial, group=self.group, bot=self.bot))
            if now - checked >= 1.0:
                checked = now
                watch = self._safe(lambda: store.watching(self.engine, self.host, self.serial)) or store.Watch(False)
            frame = self._frame
            if not watch.wanted or frame is None or (frame[1], watch.full) == sent:
                continue
            last = self._last
            if sent is not None and sent[1] == watch.full and last is not None and same_frame(last, frame[0]):
                continue  # the screen has not changed since the frame the wall has: nothing to send
            self.publish_now(frame[0], frame[1], full=watch.full)
            sent, self._last = (frame[1], watch.full), frame[0]

    def publish_now(self, image: np.ndarray, at: float, *, full: bool) -> None:
        """Encode and publish ``image`` (captured at ``at``) with the last image step's checks."""
        step = self._step
        data = encode(image, full=full)
        height, width = image.shape[:2]
        self._safe(lambda: store.publish(self.engine, self.host, self.serial, data, at=at, width=width,
                                         height=height, full=full, source="bot", group=self.group, bot=self.bot,
                                         step=step[0] if step else None,
                                         overlay=overlay_json(step[1]) if step else None))
        self.published += 1
