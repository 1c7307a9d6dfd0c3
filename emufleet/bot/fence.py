"""Fencing: a bot sends device input only while it provably holds its instance lock (docs/supervision.md).

The lock itself lives elsewhere (a lease on a Prefect global concurrency limit, :mod:`adapters.locks`); the
engine only sees this :class:`Fence`, which the lock's keeper feeds:

* every successful renewal calls :meth:`Fence.renewed` with the time the renewal request was *sent*, so the fence
  stays open until ``sent + lease_s − margin_s``: input stops ``margin_s`` before the server could expire the lease,
  even when the server is unreachable and nothing tells us so;
* a refused renewal (the lease is gone) calls :meth:`Fence.revoke`: input stops at once.

Input methods call :meth:`Fence.check`, which raises :class:`~emufleet.errors.InstanceLockLost`. A bot run
without a lock (``emufleet routines run``) uses :data:`OPEN_FENCE`, which never closes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from emufleet.errors import InstanceLockLost

__all__ = ["OPEN_FENCE", "Fence"]


class Fence:
    """Whether this bot may send input now. Thread-safe; times are ``clock()`` seconds (monotonic).

    Args:
        serial: the instance (for error messages).
        lease_s: the lease's duration on the server. margin_s: how long before the lease's end input stops
            (covers the renewal round trip and clock drift); must be below ``lease_s``.
        clock: the monotonic clock (tests pass a fake one).
    """

    def __init__(self, serial: str, *, lease_s: float, margin_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= margin_s < lease_s:
            raise ValueError(f"fence margin {margin_s} s must be in [0, lease {lease_s} s)")
        self.serial = serial
        self.lease_s = lease_s
        self.margin_s = margin_s
        self._clock = clock
        self._lock = threading.Lock()
        self._open_until = clock() + lease_s - margin_s  # a lock is handed over just acquired
        self._revoked: str | None = None

    def renewed(self, sent_at: float) -> None:
        """A renewal sent at ``sent_at`` succeeded: open until ``sent_at + lease − margin``. A renewal answered
        after the lease could have expired closes the fence instead: the server may have given the slot to another
        holder before it reaped the expired lease that this renewal found (a restarted server, seen in the fencing
        test). What counts is when the answer came, not when the request left: the client retries a request while
        the server is unreachable, so one sent in time can reach a restarted server long after the lease ended.
        Only a re-acquisition (:meth:`reacquired`) opens it again."""
        with self._lock:
            if self._clock() >= self._open_until + self.margin_s:
                self._revoked = "renewed only after the lease could have expired"
                return
            self._revoked = None
            self._open_until = max(self._open_until, sent_at + self.lease_s - self.margin_s)

    def reacquired(self, sent_at: float) -> None:
        """A new lease was taken at ``sent_at`` (after a loss): the fence reopens from then."""
        with self._lock:
            self._revoked = None
            self._open_until = sent_at + self.lease_s - self.margin_s

    def revoke(self, reason: str) -> None:
        """The lease is gone (renewal refused, another holder): close the fence now."""
        with self._lock:
            self._revoked = reason
            self._open_until = min(self._open_until, self._clock())

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._revoked is None and self._clock() < self._open_until

    @property
    def reason(self) -> str | None:
        """Why the fence is closed (``None`` while open)."""
        with self._lock:
            if self._revoked is not None:
                return self._revoked
            if self._clock() >= self._open_until:
                return f"lock not renewed for {self.lease_s - self.margin_s:g} s (server unreachable?)"
            return None

    def check(self) -> None:
        """Raise unless input may be sent now.

        Raises:
            InstanceLockLost: the fence is closed (:attr:`reason` says why).
        """
        reason = self.reason
        if reason is not None:
            raise InstanceLockLost(f"instance lock lost, input refused: {reason}", serial=self.serial)


class _OpenFence(Fence):
    def __init__(self) -> None:
        super().__init__("", lease_s=1.0, margin_s=0.0)

    @property
    def is_open(self) -> bool:
        return True

    @property
    def reason(self) -> str | None:
        return None


#: The fence of a bot that holds no lock (a routine run from the CLI): always open.
OPEN_FENCE: Fence = _OpenFence()
