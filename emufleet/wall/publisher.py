"""The live wall's publisher: one thread per process and database for all the bots' feeds (:class:`LiveFeed`).

Every :data:`PUBLISH_S` seconds it asks the database once whether anyone looks at any of its feeds' instances,
takes from each watched feed the frame its bot captured last when it differs from the one the wall has, encodes
those (a thumbnail, or device size for the full view: here, never on a bot's thread) and writes them in one
transaction. Every :data:`DRIVE_RENEW_S` it renews the feeds' marks that their bots drive their instances. Eight
bots cost one query a second while nobody looks, and one query, eight encodings and one commit a second while
someone does, whatever the number of viewers (they all read the same rows).

It runs while it has feeds: :meth:`WallPublisher.add` of the first starts its thread, :meth:`WallPublisher.discard`
of the last stops it (joined). Database errors are logged, never raised into a bot.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from emufleet.errors import DatabaseError
from emufleet.wall import store

if TYPE_CHECKING:
    from emufleet.wall.feed import LiveFeed

__all__ = ["DRIVE_RENEW_S", "PUBLISH_S", "WallPublisher"]

log = logging.getLogger(__name__)
PUBLISH_S = 1.0
DRIVE_RENEW_S = 10.0


class WallPublisher:
    """Publishes the feeds of this process on ``engine`` every ``interval_s`` seconds (see the module docstring).

    ``rounds`` counts the rounds that published at least one frame (tests, benchmarks)."""

    def __init__(self, engine: Engine, *, interval_s: float = PUBLISH_S) -> None:
        self.engine = engine
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._feeds: list[LiveFeed] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.rounds = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def add(self, feed: LiveFeed) -> None:
        """Publish ``feed`` from the next round on (starts the thread if it is the first)."""
        with self._lock:
            if feed not in self._feeds:
                self._feeds.append(feed)
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(target=self._run, args=(self._stop,), name="emufleet-wall",
                                                daemon=True)
                self._thread.start()

    def discard(self, feed: LiveFeed) -> None:
        """Stop publishing ``feed``; with no feed left, stop the thread and wait for it (≤ 5 s)."""
        with self._lock:
            if feed in self._feeds:
                self._feeds.remove(feed)
            if self._feeds or self._thread is None:
                return
            thread, stop, self._thread = self._thread, self._stop, None
        stop.set()  # a feed added meanwhile started a thread of its own, with its own stop event
        thread.join(5)

    def _run(self, stop: threading.Event) -> None:
        renewed = time.monotonic()
        while not stop.wait(self.interval_s):
            with self._lock:
                feeds = list(self._feeds)
            if time.monotonic() - renewed >= DRIVE_RENEW_S:
                renewed = time.monotonic()
                for feed in feeds:
                    feed.mark_driven()
            try:
                self.publish_round(feeds)
            except DatabaseError as exc:  # the wall is a courtesy: never let it fail the bots
                log.warning("live wall: %s", exc)

    def publish_round(self, feeds: list[LiveFeed]) -> int:
        """One round for ``feeds``: the looks, the frames due, one transaction. Returns the frames published.

        Raises:
            DatabaseError: the database failed (nothing of this round is published).
        """
        looks = store.looks(self.engine, {feed.instance.host for feed in feeds})
        due = [(feed, frame) for feed in feeds if (frame := feed.due(looks.at(feed.instance))) is not None]
        if not due:
            return 0
        store.publish_many(self.engine, [frame for _, frame in due])
        for feed, _ in due:
            feed.delivered()
        self.rounds += 1
        return len(due)
