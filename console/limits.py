"""Request bodies limited before they are read, and JSON objects with a key written twice refused.

A pure ASGI middleware (Starlette's ``BaseHTTPMiddleware`` would read the body on the event loop first): a body
whose ``Content-Length`` is over :data:`MAX_BODY_BYTES` is answered 413 unread; a body without one is read only up
to the limit. JSON bodies are checked for duplicate keys (``{"name": "a", "name": "b"}`` would silently take the
second, as Python's ``json`` does): 422 naming the key.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from console.responses import SafeJSONResponse

__all__ = ["MAX_BODY_BYTES", "BodyLimitMiddleware"]

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body (bytes): a data file is at most 256 KiB, and a form of one is a little more."""


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


class BodyLimitMiddleware:
    """See the module docstring. ``max_bytes`` defaults to :data:`MAX_BODY_BYTES`."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send, 413, f"request body of {int(declared):,} bytes is over the "
                               f"limit of {self.max_bytes:,}")
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send, 413, f"request body is over the limit of "
                                   f"{self.max_bytes:,} bytes")
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if "json" in headers.get("content-type", "") and body:
            try:
                json.loads(body, object_pairs_hook=_no_duplicates)
            except _DuplicateKey as exc:
                await self._refuse(scope, receive, send, 422, f"the JSON body gives the key {str(exc)!r} twice")
                return
            except (json.JSONDecodeError, UnicodeDecodeError):
                pass  # not JSON at all: FastAPI answers that itself
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
        response = SafeJSONResponse({"detail": message, "errors": [{"field": "body", "message": message}]},
                                    status_code=status)
        await response(scope, receive, send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``messages`` first, then (when given) waits on ``then`` (a disconnect)."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive
