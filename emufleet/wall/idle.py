"""The idle capturer: this host's instances that no bot drives, captured on this host for the live wall.

It talks only to this host's own adb server on loopback (never one opened to the network) and only when that
server already runs (its port is probed first: the wall never starts an adb server). An instance a bot drives
(:func:`emufleet.wall.store.driven`) is skipped: its bot publishes its own captures. Nothing is captured while
nobody looks. The console runs one for its host; ``emufleet instances wall`` runs one on any other host.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import Counter

from sqlalchemy import Engine

from emufleet.device import Device, list_devices
from emufleet.errors import DatabaseError, DeviceError, EmufleetError
from emufleet.hosts import InstanceId
from emufleet.wall import store
from emufleet.wall.feed import encode

__all__ = ["IdleCapturer"]

log = logging.getLogger(__name__)


class IdleCapturer:
    """Captures this host's (``host``) idle instances at most once per ``interval_s`` while anyone looks.

    :meth:`tick` does one round (thread-safe, a round already running is not doubled); :meth:`run` loops until
    ``stop`` is set. Device and database errors are logged, per instance: one bad device never stops the others.
    """

    def __init__(self, engine: Engine, host: str, *, interval_s: float = 1.0) -> None:
        self.engine = engine
        self.host = host
        self.interval_s = interval_s
        self._devices: dict[InstanceId, Device] = {}
        self._busy = threading.Lock()
        self._last = 0.0
        self.captured: Counter[InstanceId] = Counter()  # captures made, by instance

    def _instances(self) -> list[InstanceId]:
        port = int(os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                pass
        except OSError:
            return []  # no adb server runs here: nothing to capture, and none is started
        try:
            return [InstanceId(self.host, d.serial) for d in list_devices(adb_host="127.0.0.1", adb_port=port)
                    if d.state == "device"]
        except EmufleetError as exc:
            log.warning("live wall: adb devices: %s", exc)
            return []

    def tick(self) -> int:
        """One round: every idle instance someone looks at, captured and published. Returns the captures made."""
        if not self._busy.acquire(blocking=False):
            return 0
        try:
            if time.monotonic() - self._last < self.interval_s:
                return 0
            self._last = time.monotonic()
            made = 0
            looks = store.looks(self.engine, (self.host,))  # one query for every instance of the round
            if not looks.anyone:
                return 0
            instances = self._instances()
            if not instances:
                return 0
            busy = store.driven(self.engine, self.host)
            for instance in instances:
                if instance in busy:
                    continue
                watch = looks.at(instance)
                if watch.wanted and self._capture(instance, full=watch.full):
                    made += 1
                    self.captured[instance] += 1
            return made
        except DatabaseError as exc:
            log.warning("live wall: %s", exc)
            return 0
        finally:
            self._busy.release()

    def _capture(self, instance: InstanceId, *, full: bool) -> bool:
        device = self._devices.get(instance)
        try:
            if device is None:
                device = self._devices[instance] = Device(instance.serial, adb_host="127.0.0.1")
            frame = device.screenshot()
            at = time.time()
        except DeviceError as exc:
            self._devices.pop(instance, None)
            log.info("live wall: %s not captured: %s", instance, exc)
            return False
        height, width = frame.shape[:2]
        store.publish(self.engine, instance, encode(frame, full=full), at=at, width=width, height=height,
                      full=full, source="idle")
        return True

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set: each ``interval_s`` while anyone looks, checking every second otherwise."""
        while not stop.wait(self.interval_s):
            self.tick()
