"""Fixtures of the orchestration suite: ONE real Prefect server for the whole session, never ephemeral mode.

``prefect_server`` (session) starts ``prefect server start`` through :func:`flows.server.start_server` (the code
``emufleet demo`` uses) on a free port with a temporary ``PREFECT_HOME``, points this process at it (environment
*and* Prefect's settings context, because ``prefect`` may already be imported) and stops it at the end.
``prefect_client`` is an async-usable client factory; ``emufleet_db`` a migrated SQLite file per test.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.server import PrefectServer, start_server, stop_server

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server on a free port with its own home; this process's client points at it."""
    home = tmp_path_factory.mktemp("prefect-home")
    server = start_server(home, _free_port(), record=False)
    saved = {k: os.environ.get(k) for k in ("PREFECT_API_URL", "PREFECT_UI_URL", "DO_NOT_TRACK",
                                            "PREFECT_SERVER_ANALYTICS_ENABLED")}
    os.environ.update({"PREFECT_API_URL": server.api_url, "PREFECT_UI_URL": server.ui_url, "DO_NOT_TRACK": "1",
                       "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url, PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            yield server
    finally:
        stop_server(server)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
