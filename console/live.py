"""Live views over Server-Sent Events: one poller per console, however many pages are open.

The hub polls :func:`console.fleet.read_snapshot` every ``interval_s`` while at least one page listens (and never
otherwise), renders the live fragments once per change, and hands them to every listener. A page's
``console.js`` opens ``GET /live`` (an ``EventSource``) and replaces each ``[data-live=<name>]`` element with the
``<name>`` event's HTML. ``/metrics`` and the pages reuse the latest snapshot when it is fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from adapters.logged import logged
from console.fleet import FleetSnapshot

__all__ = ["LiveHub", "sse_event"]

_log = logging.getLogger(__name__)

Render = Callable[[FleetSnapshot], dict[str, str]]
KEEPALIVE_S = 15.0


def sse_event(name: str, data: str) -> str:
    """One SSE message: ``event: name`` and the data split into ``data:`` lines."""
    lines = "".join(f"data: {line}\n" for line in (data.splitlines() or [""]))
    return f"event: {name}\n{lines}\n"


class LiveHub:
    """The shared poller. ``fetch`` reads a snapshot; ``render`` turns it into ``{fragment name: html}``."""

    def __init__(self, fetch: Callable[[], Awaitable[FleetSnapshot]], render: Render, *,
                 interval_s: float = 1.0) -> None:
        self._fetch = fetch
        self._render = render
        self.interval_s = interval_s
        self.latest: FleetSnapshot | None = None
        self._latest_at = 0.0
        self._fragments: dict[str, str] = {}
        self._listeners: set[asyncio.Queue[dict[str, str]]] = set()
        self._poller: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def get(self, max_age_s: float | None = None) -> FleetSnapshot:
        """The latest snapshot if younger than ``max_age_s`` (default: the poll interval), else a fresh one."""
        loop = asyncio.get_running_loop()
        max_age = self.interval_s if max_age_s is None else max_age_s
        async with self._lock:
            if self.latest is None or loop.time() - self._latest_at > max_age:
                self.latest = await self._fetch()
                self._latest_at = loop.time()
            return self.latest

    async def stream(self) -> AsyncIterator[str]:
        """SSE text for one listener: the current fragments at once, then each change, and keep-alives."""
        queue: asyncio.Queue[dict[str, str]] = asyncio.Queue(maxsize=1)
        self._listeners.add(queue)
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            yield sse_event("hello", json.dumps({"interval_s": self.interval_s}))
            if self._fragments:
                for name, html in self._fragments.items():
                    yield sse_event(name, html)
            while True:
                try:
                    fragments = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                for name, html in fragments.items():
                    yield sse_event(name, html)
        finally:
            self._listeners.discard(queue)

    async def _poll(self) -> None:
        while self._listeners:
            snapshot = await self.get(max_age_s=self.interval_s / 2)
            fragments = self._render(snapshot)
            changed = {k: v for k, v in fragments.items() if self._fragments.get(k) != v}
            self._fragments = fragments
            if changed:
                for queue in list(self._listeners):
                    if queue.full():  # a slow page gets the newest state, not a backlog
                        with contextlib.suppress(asyncio.QueueEmpty):
                            queue.get_nowait()
                    queue.put_nowait(fragments)
            await asyncio.sleep(self.interval_s)

    async def close(self) -> None:
        """Stop the poller (app shutdown)."""
        self._listeners.clear()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError), logged(_log, "the live view's last poll, at shutdown"):
                await self._poller
