"""The console's live wall of instance screens (docs/console.md "Live wall"): rows in the emufleet database that
every host's bots (:class:`LiveFeed`: their own captures, never an extra one, published by one
:class:`WallPublisher` thread per process) and idle capturers
(:class:`IdleCapturer`: instances no bot drives, on their own host) publish to while someone looks, and the
console reads (:mod:`emufleet.wall.store`)."""

from emufleet.wall.feed import LiveFeed
from emufleet.wall.idle import IdleCapturer
from emufleet.wall.publisher import WallPublisher

__all__ = ["IdleCapturer", "LiveFeed", "WallPublisher"]
