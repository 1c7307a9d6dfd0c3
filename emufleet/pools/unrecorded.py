"""Account results the database refused, kept in memory and written again until it accepts them (issue 23 item 4).

When the database turns read-only, fills up or is briefly unreachable, the end of a lease (``completed``,
``failed``, ``returned``) cannot be written. Dropping it would leave the account ``in_use`` until its lease expires,
after which it is played again. :class:`UnrecordedResults` keeps each such write and retries it on a background
thread with back-off (0.5 s doubling to 15 s), for at most ``max_age_s`` seconds per result (bounded: the lease
that makes the write valid expires too). The write is a compare-and-set on the lease token, so a late retry can
never overwrite another owner's lease: when the lease was reclaimed meanwhile the retry ends with ``LeaseError``
and the result is given up, said in one WARNING line.

Each kept, recorded and given-up result is one log line (WARNING, INFO, ERROR), never a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from emufleet.errors import DatabaseError, LeaseError

__all__ = ["UnrecordedResults"]

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.5
_MAX_RETRY_S = 15.0


@dataclass
class _Kept:
    what: str  # "account 12 completed", for the log lines
    write: Callable[[], None]  # idempotent: the whole end of the lease, safe to call again after a failure
    kept_at: float  # time.monotonic()
    tries: int = 1


class UnrecordedResults:
    """Writes the database refused, retried in the background; thread-safe.

    ``max_age_s``: how long (seconds) one result is retried before it is given up.
    """

    def __init__(self, *, max_age_s: float, name: str = "emufleet-unrecorded") -> None:
        self.max_age_s = max_age_s
        self.name = name
        self.recorded = 0  # kept results written later
        self.given_up = 0  # kept results never written (too old, or their lease was lost)
        self._kept: list[_Kept] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def keep(self, what: str, write: Callable[[], None], error: DatabaseError) -> None:
        """Keep ``write`` (which just failed with ``error``) and retry it in the background."""
        log.warning("%s: not recorded yet (%s); kept, retrying for up to %.0f s", what, error, self.max_age_s)
        with self._lock:
            self._kept.append(_Kept(what, write, time.monotonic()))
            if self._thread is None and not self._closing.is_set():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Try every kept write once, oldest first; gives up those past ``max_age_s``. Returns how many remain."""
        with self._lock:
            kept, self._kept = self._kept, []
        remaining: list[_Kept] = []
        for item in kept:
            try:
                item.write()
            except DatabaseError as exc:
                item.tries += 1
                if time.monotonic() - item.kept_at >= self.max_age_s:
                    self._give_up(item, f"the database still refuses it after {item.tries} tries ({exc})")
                else:
                    remaining.append(item)
            except LeaseError as exc:
                self._give_up(item, f"its lease was lost meanwhile ({exc})", level=logging.WARNING)
            else:
                self.recorded += 1
                log.info("%s: recorded after %d tries", item.what, item.tries)
        with self._lock:
            self._kept[:0] = remaining  # before anything kept while this flush ran
            return len(self._kept)

    def close(self, timeout_s: float) -> int:
        """Retry for at most ``timeout_s`` seconds, then give up what is left and stop the thread.

        Returns how many results were given up here."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        delay = _FIRST_RETRY_S
        while self.flush() and time.monotonic() < deadline:
            time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 2, _MAX_RETRY_S)
        with self._lock:
            left, self._kept = self._kept, []
        for item in left:
            self._give_up(item, f"the process is ending and the database still refuses it after {item.tries} tries")
        return len(left)

    def _give_up(self, item: _Kept, why: str, *, level: int = logging.ERROR) -> None:
        self.given_up += 1
        log.log(level, "%s: result given up, %s; the account is played again once its lease expires", item.what, why)

    def _run(self) -> None:
        delay = _FIRST_RETRY_S
        while not self._closing.is_set():
            self._wake.wait(delay)
            if self._closing.is_set():
                return
            delay = min(delay * 2, _MAX_RETRY_S)
            if self.flush() == 0:
                with self._lock:
                    if not self._kept:  # nothing kept meanwhile: the next keep starts a new thread
                        self._thread = None
                        return
