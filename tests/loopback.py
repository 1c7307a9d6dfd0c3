"""A loopback HTTP receiver for tests: a server on a free 127.0.0.1 port, on a thread, that keeps what its handler
received (``items``) and lets a test wait on a condition over them (never a fixed sleep). ``tests/otlp.py`` and
``tests/webhook.py`` build on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")


class LoopbackReceiver(Generic[T]):
    """Serves ``handler`` (its server's ``receiver`` attribute is this object) as a context manager."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.items: list[T] = []
        self.changed = threading.Condition()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.receiver = self  # type: ignore[attr-defined]  # how the handler reaches us
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="loopback-receiver")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add(self, items: list[T]) -> None:
        with self.changed:
            self.items.extend(items)
            self.changed.notify_all()

    def wait_for(self, ready: Callable[[list[T]], bool], timeout_s: float, what: Callable[[list[T]], str]) -> list[T]:
        """The items once ``ready(items)`` holds; after ``timeout_s``, ``AssertionError`` naming ``what(items)``."""
        with self.changed:
            if not self.changed.wait_for(lambda: ready(list(self.items)), timeout=timeout_s):
                raise AssertionError(f"the condition never held; received: {what(list(self.items))}")
            return list(self.items)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
