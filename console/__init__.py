"""The fleet console: web pages beside the Prefect UI, a REST API, live updates, ``/health``, ``/ready``,
``/metrics`` (issue 13; the seed's GUI tabs of digest §12).

It sits above the engine and the Prefect layer (it may import ``emufleet``, ``flows`` and ``tasks``; nothing
imports it but the CLI, lazily). Usage::

    emufleet console                      # http://127.0.0.1:4300 (loopback; no token needed)
    emufleet console --host 0.0.0.0 --token "$(openssl rand -hex 16)"

    from console import ConsoleConfig, create_app, start_in_thread
    app = create_app(ConsoleConfig(port=4300))           # an ASGI app (uvicorn, TestClient)
    running = start_in_thread(ConsoleConfig(port=0)); running.stop()

Pages: ``/groups`` ``/instances`` ``/pools`` ``/routines`` ``/accounts``; API: ``/api/…`` (``/docs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from console.config import DEFAULT_PORT, ConsoleConfig
from console.server import ConsoleThread, free_console_port, serve, start_in_thread

if TYPE_CHECKING:  # FastAPI loads Prefect's settings: imported on call (see create_app)
    from fastapi import FastAPI
    from sqlalchemy import Engine

__all__ = ["DEFAULT_PORT", "ConsoleConfig", "ConsoleThread", "create_app", "free_console_port", "serve",
           "start_in_thread"]


def create_app(config: ConsoleConfig | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The console's FastAPI app (:func:`console.app.create_app`). Imported on call: the app imports Prefect,
    which must come after :func:`flows.server.use_server`, while the CLI imports this package before."""
    from console.app import create_app as _create_app

    return _create_app(config, engine=engine)
