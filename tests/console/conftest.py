"""Fixtures of the console suite: the app on a private project root (``fleet_home``: its own SQLite database,
pool ``test`` of six demo accounts, test routines), through Starlette's TestClient or served on a real port.

``prefect_server`` and ``fleet_home`` are the suite's (:mod:`tests.fleet`, one Prefect server per session).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from console import ConsoleConfig
from emufleet.sim.adbserver import free_port
from tests.console.browser import browser, page, shots  # noqa: F401 - the browser fixtures, defined once
from tests.fleet import FleetHome

BASE = "http://127.0.0.1"


@pytest.fixture
def make_client(fleet_home: FleetHome) -> Iterator[Callable[..., Any]]:
    """Factory: ``make_client(**ConsoleConfig fields)`` → a started TestClient (``base_url`` on loopback)."""
    from starlette.testclient import TestClient

    from console import create_app

    clients: list[Any] = []

    def factory(**config: Any) -> Any:
        config.setdefault("live_interval_s", 0.2)
        config.setdefault("prefect_ui_url", "http://127.0.0.1:4200")
        client = TestClient(create_app(ConsoleConfig(**config)), base_url=BASE)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., Any], prefect_server: Any) -> Any:
    """A TestClient of a loopback console (no token) with the session's Prefect server."""
    return make_client()


@pytest.fixture
def served(fleet_home: FleetHome, prefect_server: Any) -> Iterator[Any]:
    """The console served by uvicorn on a free loopback port (a :class:`console.ConsoleThread`)."""
    from console import start_in_thread

    running = start_in_thread(ConsoleConfig(port=free_port(), live_interval_s=0.3,
                                            prefect_ui_url=prefect_server.ui_url))
    yield running
    running.stop()

