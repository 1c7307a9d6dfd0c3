"""How one console process is set up: where it listens, its access token, the Prefect UI it links to.

Bound to a loopback address the console needs no token (only this machine can reach it, and the Host header is
checked against DNS rebinding); bound to any other address it refuses to start without one (issue 13 "Access":
no anonymous remote control of devices and accounts).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from emufleet.errors import InputError

__all__ = ["DEFAULT_PORT", "ConsoleConfig", "is_loopback"]

DEFAULT_PORT = 4300
"""The console's port when none is given (the Prefect UI is on 4200)."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts connections from this machine."""
    if host.strip("[]").lower() in ("localhost", "localhost.localdomain"):
        return True
    text = host.strip("[]")
    for kind in (ipaddress.IPv4Address, ipaddress.IPv6Address):
        try:
            return kind(text).is_loopback
        except ipaddress.AddressValueError:  # not this kind of address (or none at all: a host name)
            continue
    return False


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    """Settings of one console app.

    ``token`` defaults to ``EMUFLEET_CONSOLE_TOKEN``; ``prefect_ui_url`` to ``PREFECT_UI_URL`` (set by
    :func:`flows.server.use_server`); ``live_interval_s`` is how often live views poll the Prefect API.

    Raises:
        InputError: a non-loopback ``host`` without a token (field ``token``), or a port outside 0..65535.
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = field(default_factory=lambda: os.environ.get("EMUFLEET_CONSOLE_TOKEN") or None)
    prefect_ui_url: str | None = field(default_factory=lambda: os.environ.get("PREFECT_UI_URL") or None)
    live_interval_s: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.port <= 65535:
            raise InputError(f"{self.port} is outside 0..65535", field="port")
        if not is_loopback(self.host) and not self.token:
            raise InputError(f"the console listens on {self.host}, reachable from other machines: give it a token "
                             "(--token or EMUFLEET_CONSOLE_TOKEN)", field="token")

    @property
    def url(self) -> str:
        """The console's base URL (``http://host:port``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def flow_run_url(self, flow_run_id: object) -> str | None:
        """A flow run's page in the Prefect UI, or ``None`` when no UI is known."""
        if not self.prefect_ui_url:
            return None
        return f"{self.prefect_ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"
