"""Serving the console with uvicorn: in the foreground (``emufleet console``) or on a thread (``emufleet demo``).

Call :func:`flows.server.use_server` before either (Prefect reads its settings at import); the app imports
Prefect on its first read of the Prefect API (``console.fleet``), not at start: ``/health`` answers without it.
"""

from __future__ import annotations

import contextvars
import threading
import time
from typing import TYPE_CHECKING

from console.config import DEFAULT_PORT, ConsoleConfig
from emufleet.system.probe import free_tcp_port

if TYPE_CHECKING:  # imported on first use: uvicorn and the app load Prefect (after flows.server.use_server)
    import uvicorn
    from sqlalchemy import Engine

__all__ = ["ConsoleThread", "free_console_port", "serve", "start_in_thread"]


def free_console_port(host: str = "127.0.0.1", preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` when it is free on ``host``, else any free port.

    Raises:
        OrchestrationError: no free port at all.
    """
    return free_tcp_port(preferred, host)


def _server(config: ConsoleConfig, *, engine: Engine | None = None) -> uvicorn.Server:
    import uvicorn

    from console.app import create_app

    app = create_app(config, engine=engine)
    return uvicorn.Server(uvicorn.Config(app, host=config.host, port=config.port, log_level="warning",
                                         access_log=False, timeout_graceful_shutdown=5, lifespan="on"))


def serve(config: ConsoleConfig) -> None:
    """Run the console until Ctrl-C (uvicorn handles the signals)."""
    _server(config).run()


class ConsoleThread:
    """A console served on a daemon thread; :meth:`stop` shuts it down (its own launches are stopped first)."""

    def __init__(self, config: ConsoleConfig, *, engine: Engine | None = None) -> None:
        self.config = config
        self.server = _server(config, engine=engine)
        # the main thread keeps its signal handlers: uvicorn captures signals only when it runs on the main thread
        # The caller's context goes along: Prefect's settings (its API URL) live in a context variable, and a bare
        # thread would see only what Prefect read at import, hence an ephemeral API server.
        context = contextvars.copy_context()
        self.thread = threading.Thread(target=context.run, args=(self.server.run,), name="emufleet-console",
                                       daemon=True)

    @property
    def url(self) -> str:
        return self.config.url

    def start(self, timeout_s: float = 20.0) -> ConsoleThread:
        """Start serving; returns once the server accepts connections.

        Raises:
            RuntimeError: it did not start within ``timeout_s`` (the port is taken, say).
        """
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the console did not start on {self.config.url}")
            time.sleep(0.05)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)


def start_in_thread(config: ConsoleConfig, *, engine: Engine | None = None) -> ConsoleThread:
    """:class:`ConsoleThread` started (see :meth:`ConsoleThread.start`)."""
    return ConsoleThread(config, engine=engine).start()
