"""A Discord-compatible webhook receiver for tests: a loopback HTTP server that parses each ``multipart/form-data``
POST (``payload_json`` + ``files[i]``) with the standard library's MIME parser and keeps it.

``with WebhookReceiver() as hook:`` serves on a free port at ``hook.url``; ``hook.fail_first(429, …)`` answers the
next requests with an error first; :meth:`WebhookReceiver.wait_for` waits (on a condition) for a matching post.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


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


class WebhookReceiver:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.requests = 0
        self._errors: list[tuple[int, bytes]] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._changed:
                    receiver.requests += 1
                    error = receiver._errors.pop(0) if receiver._errors else None
                if error is not None:
                    self.send_response(error[0])
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(error[1])))
                    self.end_headers()
                    self.wfile.write(error[1])
                    return
                post = parse_multipart(self.headers["Content-Type"], body)
                with receiver._changed:
                    receiver.posts.append(post)
                    receiver._changed.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="webhook-receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/api/webhooks/1/token"

    def fail_first(self, status: int, body: dict[str, Any] | None = None, times: int = 1) -> None:
        with self._changed:
            self._errors.extend([(status, json.dumps(body or {}).encode())] * times)

    def wait_for(self, ready: Callable[[list[Post]], bool], timeout_s: float = 60.0) -> list[Post]:
        with self._changed:
            if not self._changed.wait_for(lambda: ready(list(self.posts)), timeout=timeout_s):
                raise AssertionError(f"no matching post; received: {[p.content[:100] for p in self.posts]}")
            return list(self.posts)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
