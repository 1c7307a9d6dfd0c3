"""A Discord-compatible webhook receiver for tests: a loopback HTTP server that parses each ``multipart/form-data``
POST (``payload_json`` + ``files[i]``) with the standard library's MIME parser and keeps it.

``with WebhookReceiver() as hook:`` serves on a free port at ``hook.url``; ``hook.fail_first(429, …)`` answers the
next requests with an error first; :meth:`WebhookReceiver.wait_for` waits (on a condition) for a matching post.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import LoopbackReceiver


@dataclass(frozen=True)
class Upload:
    field: str
    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Post:
    payload: dict[str, Any]
    files: list[Upload]

    @property
    def content(self) -> str:
        return str(self.payload.get("content", ""))


def parse_multipart(content_type: str, body: bytes) -> Post:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    assert message.is_multipart(), content_type
    payload: dict[str, Any] = {}
    files = []
    for part in message.iter_parts():
        field = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True)
        if field == "payload_json":
            payload = json.loads(data)
        else:
            files.append(Upload(str(field), part.get_filename(), part.get_content_type(), data))
    return Post(payload, files)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        receiver: WebhookReceiver = self.server.receiver  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        error = receiver.next_error()
        if error is not None:
            self.send_response(error[0])
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(error[1])))
            self.end_headers()
            self.wfile.write(error[1])
            return
        receiver.add([parse_multipart(self.headers["Content-Type"], body)])
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver(LoopbackReceiver[Post]):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests = 0
        self._errors: list[tuple[int, bytes]] = []

    @property
    def posts(self) -> list[Post]:
        return self.items

    @property
    def url(self) -> str:
        return f"{self.base_url}/api/webhooks/1/token"

    def next_error(self) -> tuple[int, bytes] | None:
        """Count the request; the error to answer it with, if one is queued."""
        with self.changed:
            self.requests += 1
            return self._errors.pop(0) if self._errors else None

    def fail_first(self, status: int, body: dict[str, Any] | None = None, times: int = 1) -> None:
        with self.changed:
            self._errors.extend([(status, json.dumps(body or {}).encode())] * times)

    def wait_for(self, ready: Callable[[list[Post]], bool],  # type: ignore[override]
                 timeout_s: float = 60.0) -> list[Post]:
        return super().wait_for(ready, timeout_s, lambda got: str([p.content[:100] for p in got]))
