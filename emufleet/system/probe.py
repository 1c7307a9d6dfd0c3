"""Small network probes shared by the system components and the Prefect server helpers: is an HTTP endpoint
answering 200, does a TCP port accept, which port is free. They never start anything."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

from emufleet.boundary import JsonObject, YamlValue
from emufleet.errors import OrchestrationError

__all__ = ["free_tcp_port", "http_json", "http_ok", "port_open"]


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``GET url`` answers 200 within ``timeout_s``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as reply:  # noqa: S310 - our own local URLs
            status: int = reply.status  # typeshed types urlopen's reply as Any (an HTTPResponse)
            return status == 200
    except (OSError, urllib.error.URLError, ValueError):
        return False


def http_json(url: str, body: JsonObject | None = None, timeout_s: float = 5.0) -> YamlValue:
    """``GET url`` (``POST`` with ``body`` as JSON) and its JSON answer.

    Raises:
        OrchestrationError: no answer, an error status, or not JSON (the message names the URL).
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:  # noqa: S310 - our own local URLs
            return json.loads(reply.read())
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise OrchestrationError(f"{url}: {exc}") from exc


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> bool:
    """Whether ``host:port`` accepts a TCP connection."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        return sock.connect_ex((host, port)) == 0


def free_tcp_port(preferred: int | None = None, host: str = "127.0.0.1") -> int:
    """``preferred`` when it is free on ``host``, else any free port.

    Raises:
        OrchestrationError: not even the kernel found a free port.
    """
    for port in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OrchestrationError(f"no free TCP port on {host}")
