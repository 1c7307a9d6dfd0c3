"""Best-effort work that must not fail what it follows (clean-up after a bot, a status write to a busy server),
with the failure said instead of swallowed: ``contextlib.suppress(Exception)`` hid why."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

__all__ = ["logged"]


@contextlib.contextmanager
def logged(log: logging.Logger | logging.LoggerAdapter[logging.Logger], what: str, *,
           level: int = logging.WARNING) -> Iterator[None]:
    """Run the body; an ``Exception`` it raises is logged at ``level`` as ``"<what> failed: <type>: <error>"`` and
    goes no further. ``what`` says what was tried and why its failure is harmless (``"releasing the lock (its
    lease expires by itself)"``). ``BaseException`` (cancellation, Ctrl-C) passes through."""
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the point of this helper; the reason is logged
        log.log(level, "%s failed: %s: %s", what, type(exc).__name__, exc)
