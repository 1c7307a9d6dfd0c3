"""A bot's feed to the live wall: its own captures, published while someone looks, never an extra capture.

:class:`LiveFeed` is a sink of the bot's recording (:class:`~emufleet.sessions.attach.BotRecording`: it sees every
capture and step event). Taking a frame costs the bot one reference, nothing more: the process's
:class:`~emufleet.wall.publisher.WallPublisher` (one thread for all the bots of a launch) asks whether anyone looks
and, if so and the bot captured a frame that differs from the one the wall has, encodes it (a
:data:`THUMB_WIDTH`-px thumbnail, or device size for the full view) with the checks of the bot's last image step
and publishes it. The feed also marks the instance as driven by the bot, so that no idle capturer captures it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TypeVar

import cv2
import numpy as np
from sqlalchemy import Engine

from emufleet.errors import DatabaseError
from emufleet.hosts import InstanceId
from emufleet.routines.context import MatchScore, StepEvent
from emufleet.sessions.recording import Entry, same_frame
from emufleet.wall import store
from emufleet.wall.publisher import DRIVE_RENEW_S, PUBLISH_S, WallPublisher

__all__ = ["DRIVE_RENEW_S", "PUBLISH_S", "THUMB_WIDTH", "LiveFeed", "encode", "overlay_json"]

log = logging.getLogger(__name__)
T = TypeVar("T")
THUMB_WIDTH = 270


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
    """The live wall's feed of one bot on ``instance``; :meth:`start` before the bot's first capture,
    :meth:`close` when it ends. ``publisher``: the process's shared one (``run_bot`` shares one per launch and
    database); by default one of its own. Database errors are logged, never raised into the bot."""

    def __init__(self, engine: Engine, instance: InstanceId, *, group: str, bot: int,
                 publisher: WallPublisher | None = None) -> None:
        self.engine = engine
        self.instance, self.group, self.bot = instance, group, bot
        self.publisher = publisher if publisher is not None else WallPublisher(engine)
        self._frame: tuple[np.ndarray, float] | None = None
        self._step: tuple[str, tuple[MatchScore, ...]] | None = None
        self._sent: tuple[float, bool] | None = None  # (capture time, full) of the frame the wall has
        self._last: np.ndarray | None = None  # and that frame
        self._pending: tuple[tuple[float, bool], np.ndarray] | None = None  # what due() handed out last
        self.published = 0

    # -- sinks (bot threads: one reference each) ----------------------------------------------------------------------
    def add(self, entry: Entry) -> None:
        if entry.image is not None:
            self._frame = (entry.image, entry.event.t)

    def on_step(self, event: StepEvent) -> None:
        if event.kind != "started" and event.scores and event.sentry is None:
            self._step = (f"{event.path} {event.action}", event.scores[-6:])

    # -- publishing ----------------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Mark the instance as driven by the bot (now, before it captures), then join the publisher (once: a second
        call, as when the bot opens its device again, only marks it again)."""
        self.mark_driven()
        self.publisher.add(self)

    def close(self) -> None:
        """Leave the publisher and release the instance."""
        self.publisher.discard(self)
        self._safe(lambda: store.release(self.engine, self.instance))

    def mark_driven(self) -> None:
        """Mark the instance as driven by the bot for the next 30 s (the publisher renews it)."""
        self._safe(lambda: store.drive(self.engine, self.instance, group=self.group, bot=self.bot))

    def _safe(self, fn: Callable[[], T]) -> T | None:
        try:
            return fn()
        except DatabaseError as exc:  # the wall is a courtesy: never let it fail the bot
            log.warning("live wall (%s): %s", self.instance, exc)
            return None

    def due(self, watch: store.Watch) -> store.Frame | None:
        """The frame to publish now under ``watch`` (encoded, on the caller's thread), or ``None``: nobody looks,
        no capture yet, or the screen has not changed since the frame the wall has. The wall has it once the caller
        stored it and said so (:meth:`delivered`): a failed round hands it out again."""
        frame = self._frame
        if not watch.wanted or frame is None or (frame[1], watch.full) == self._sent:
            return None
        image, at = frame
        if self._sent is not None and self._sent[1] == watch.full and self._last is not None \
                and same_frame(self._last, image):
            return None
        self._pending = (at, watch.full), image
        step = self._step
        height, width = image.shape[:2]
        return store.Frame(self.instance, encode(image, full=watch.full), at, width, height, watch.full, "bot",
                           self.group, self.bot, step[0] if step else None, overlay_json(step[1]) if step else None)

    def delivered(self) -> None:
        """The frame :meth:`due` handed out last is on the wall."""
        if self._pending is not None:
            self._sent, self._last = self._pending
            self._pending = None
            self.published += 1
