"""A background thread that renews leases while a bot works (digest §5.6: the seed had no heartbeat at all).

Usage (the flows layer, around a bot's run)::

    with HeartbeatThread(provider.heartbeat, interval_s=pool.definition.config.lease_ttl / 3):
        run.run()

``beat`` is called every ``interval_s`` seconds until :meth:`stop`; an exception from it is logged and kept in
:attr:`errors` (a lost lease surfaces to the bot on its next account operation as ``LeaseError``), never raised
into the bot's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

__all__ = ["HeartbeatThread"]

log = logging.getLogger(__name__)


class HeartbeatThread:
    """Calls ``beat()`` every ``interval_s`` seconds on a daemon thread; a context manager."""

    def __init__(self, beat: Callable[[], object], interval_s: float, *, name: str = "lease-heartbeat") -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self._beat = beat
        self.interval_s = interval_s
        self.beats = 0
        self.errors: list[Exception] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._beat()
                self.beats += 1
            except Exception as exc:  # noqa: BLE001 - reported via errors/log; the bot sees LeaseError itself
                log.warning("%s failed: %s", self._thread.name, exc)
                self.errors.append(exc)

    def start(self) -> HeartbeatThread:
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop beating and wait for the thread (at most ``timeout_s`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def __enter__(self) -> HeartbeatThread:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
