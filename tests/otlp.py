"""An OTLP/HTTP trace receiver for tests: a loopback HTTP server that decodes ``POST /v1/traces`` bodies
(``ExportTraceServiceRequest`` protobuf, gzip or not) with opentelemetry-proto and keeps the spans.

``with OtlpReceiver() as receiver:`` serves on a free port; ``receiver.endpoint`` is what
``OTEL_EXPORTER_OTLP_ENDPOINT`` takes; :meth:`OtlpReceiver.wait_for` waits (on a condition, not a sleep) until
the spans it has satisfy a predicate.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.loopback import LoopbackReceiver


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    events: list[str]
    status_code: int
    service: str | None
    raw: Any = field(repr=False, compare=False, default=None)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        self.server.receiver.receive(ExportTraceServiceRequest.FromString(body))  # type: ignore[attr-defined]
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class OtlpReceiver(LoopbackReceiver[ReceivedSpan]):
    """The receiver; a context manager that starts and stops it."""

    def __init__(self) -> None:
        super().__init__(_Handler)

    @property
    def spans(self) -> list[ReceivedSpan]:
        return self.items

    @property
    def endpoint(self) -> str:
        return self.base_url

    def receive(self, request: ExportTraceServiceRequest) -> None:
        spans = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    spans.append(ReceivedSpan(
                        span.name, span.trace_id.hex(), span.span_id.hex(), span.parent_span_id.hex(),
                        {a.key: _value(a.value) for a in span.attributes}, [e.name for e in span.events],
                        span.status.code, resource.get("service.name"), span))
        self.add(spans)

    def wait_for(self, ready: Callable[[list[ReceivedSpan]], bool],  # type: ignore[override]
                 timeout_s: float = 30.0) -> list[ReceivedSpan]:
        """The spans once ``ready(spans)`` holds."""
        return super().wait_for(ready, timeout_s, lambda got: str(sorted({s.name for s in got})))
