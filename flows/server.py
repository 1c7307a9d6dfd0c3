"""The one Prefect server every emufleet process talks to (never Prefect's ephemeral mode).

Ephemeral mode costs ≈ 15 s per process, hides runs from the UI and loses task runs at exit
(``reference/prefect-notes.md``), so :func:`ensure_server` either uses ``PREFECT_API_URL`` when it is set, or
reuses the server a previous command started (recorded in ``<state>/prefect/server.json``), or starts one as a
subprocess (:mod:`flows.server_app`: Prefect's server app as ``prefect server start`` runs it, with SQLite write
transactions that wait for the write lock and busy answers retried inside the server) with:

* ``PREFECT_HOME=<state>/prefect`` (its SQLite database and logs live with emufleet's state);
* analytics off (``PREFECT_SERVER_ANALYTICS_ENABLED=false``, ``DO_NOT_TRACK=1``), so an offline machine logs no
  ERROR;
* ``PREFECT_UI_API_URL`` pointing at the chosen port, so the UI works on any port, not only 4200;
* file-backed concurrency leases, so instance locks survive a server restart instead of leaking;
* its database: SQLite under ``PREFECT_HOME`` by default, or PostgreSQL (``database_url``; ``emufleet server start
  --postgres URL``), which several hosts and more than a handful of concurrent bots need (docs/orchestration.md).

Call :func:`use_server` **before** ``import prefect`` in a process (Prefect reads its settings at import); the
CLI imports the flows lazily for that reason. This module never imports Prefect itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

from emufleet.db.engine import safe_url
from emufleet.errors import OrchestrationError
from emufleet.process import pid_alive, spawn_detached, started_at, stop_tree
from emufleet.settings import state_dir
from emufleet.system.probe import free_tcp_port, http_ok
from flows.server_schema import record_sqlite_head, sqlite_at_recorded_head

__all__ = ["HEARTBEAT_FREQUENCY_S", "REPOSSESS_EVERY_S", "PrefectServer", "ensure_server", "health_ok",
           "health_within", "prefect_database_url", "running_server", "server_env", "start_server", "stop_server",
           "use_server"]

DEFAULT_PORT = 4200
HEARTBEAT_FREQUENCY_S = 30  # Prefect's minimum flow-run heartbeat interval (its default is 180 s)
REPOSSESS_EVERY_S = 5  # how often the server frees the slots of expired instance-lock leases (Prefect's default: 15)
_RECORD = "server.json"


@dataclass(frozen=True, slots=True)
class PrefectServer:
    """A Prefect API this process uses: ``api_url`` (``…/api``), the UI's URL, and the pid when we started it."""

    api_url: str
    ui_url: str
    pid: int | None = None
    home: str | None = None
    owned: bool = False  # True when this process started it (and so must stop it)
    database: str = "sqlite"  # the server's database: "sqlite", or its PostgreSQL URL with the password hidden
    started: float | None = None  # the process's creation time (epoch s): a reused pid is not this server

    def flow_run_url(self, flow_run_id: object) -> str:
        """The flow run's page in the Prefect UI."""
        return f"{self.ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def health_ok(api_url: str, timeout_s: float = 2.0) -> bool:
    """Whether ``GET <api_url>/health`` answers 200."""
    return http_ok(f"{api_url.rstrip('/')}/health", timeout_s)


def prefect_database_url(url: str) -> str:
    """A PostgreSQL URL as the Prefect server needs it: the ``asyncpg`` driver (``postgresql+asyncpg://…``).

    Accepts ``postgresql://``, ``postgres://`` and any ``postgresql+<driver>://`` (e.g. the ``psycopg`` URL of
    emufleet's own database on the same cluster).

    Raises:
        OrchestrationError: not a PostgreSQL URL (SQLite is the default and needs no URL).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url.replace("postgres://", "postgresql://", 1))
    except ArgumentError as exc:
        raise OrchestrationError(f"not a database URL: {url!r}") from exc
    if parsed.get_backend_name() != "postgresql":
        raise OrchestrationError(f"not a PostgreSQL URL: {safe_url(url)!r} "
                                 "(expected postgresql://user:password@host:5432/database)")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def _client_host(host: str) -> str:
    """The address a client on this machine uses for a server listening on ``host``."""
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - comparing, not binding


def server_env(home: Path, port: int, database_url: str | None = None, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment of a ``prefect server start`` on ``host:port`` with ``PREFECT_HOME=home``.

    ``database_url`` (PostgreSQL, see :func:`prefect_database_url`) replaces the default SQLite file under ``home``.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    api_url = f"http://{_client_host(host)}:{port}/api"
    env.update({
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_API_HOST": host,
        "PREFECT_SERVER_API_PORT": str(port),
        "PREFECT_UI_API_URL": api_url,
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": "prefect.server.concurrency.lease_storage.filesystem",
        # a killed holder's instance lock comes back at most 5 s after its lease expires (Prefect's default: 15 s);
        # the look is one read of the lease store's expiration index
        "PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS": str(REPOSSESS_EVERY_S),
        "PREFECT_LOGGING_SERVER_LEVEL": "WARNING",
    })
    if database_url:
        env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = prefect_database_url(database_url)
    return env


def start_server(home: str | Path | None = None, port: int | None = None, *, timeout_s: float = 90.0,
                 record: bool = True, database_url: str | None = None, host: str = "127.0.0.1",
                 on_spawn: Callable[[PrefectServer], None] | None = None) -> PrefectServer:
    """Start the Prefect server (:mod:`flows.server_app`) on ``host`` (loopback by default) and wait until
    ``/api/health`` answers.

    Args:
        home: ``PREFECT_HOME`` (default ``<state>/prefect``); the server's SQLite database lives there.
        port: TCP port (default 4200 when free, else any free port).
        timeout_s: how long to wait for health (a fresh database takes ≈ 9 s on 2 cores).
        record: write ``home/server.json`` so later commands reuse this server.
        database_url: the server's database (default: SQLite under ``home``; PostgreSQL past a few bots).
        host: the address to listen on; other hosts' workers need one they can reach (``0.0.0.0`` for all).
        on_spawn: called with the server once its process runs, before it answers (``emufleet up`` starts the
            processes that talk to it meanwhile: they spend that time on their own imports).

    Raises:
        OrchestrationError: the server exited or did not answer in time (the log file is named).
    """
    home_path = Path(home) if home is not None else state_dir() / "prefect"
    home_path.mkdir(parents=True, exist_ok=True)
    port = free_tcp_port(DEFAULT_PORT) if port is None else port
    log_path = home_path / "server.log"
    env = server_env(home_path, port, database_url, host)
    migrated = database_url is None and sqlite_at_recorded_head(home_path)
    if migrated:  # warm start: Prefect's migration check (its alembic scripts, ≈ 0.3 s of CPU) has nothing to do
        env["PREFECT_SERVER_DATABASE_MIGRATE_ON_START"] = "false"
    # detached (its own session): Ctrl-C in the terminal reaches us, and we stop the server in order
    pid = spawn_detached([sys.executable, "-m", "flows.server_app", "--host", host, "--port", str(port)], log_path,
                         env=env)
    ui_url = f"http://{_client_host(host)}:{port}"
    api_url = f"{ui_url}/api"
    server = PrefectServer(api_url=api_url, ui_url=ui_url, pid=pid, home=str(home_path), owned=True,
                           database=safe_url(database_url) if database_url else "sqlite", started=started_at(pid))
    if on_spawn is not None:
        on_spawn(server)
    deadline = time.monotonic() + timeout_s
    while not health_ok(api_url, timeout_s=1.0):
        if not pid_alive(pid, reap=True):
            raise OrchestrationError(f"prefect server exited during start-up; see {log_path}")
        if time.monotonic() > deadline:
            stop_server(server)
            raise OrchestrationError(f"prefect server did not answer within {timeout_s:.0f} s; see {log_path}")
        time.sleep(0.1)
    if record:
        (home_path / _RECORD).write_text(json.dumps(asdict(server)), encoding="utf-8")
    if database_url is None and not migrated:
        record_sqlite_head(home_path)
    return server


def _recorded(home: Path) -> PrefectServer | None:
    try:
        data = json.loads((home / _RECORD).read_text(encoding="utf-8"))
        server = PrefectServer(**data)
    except (OSError, ValueError, TypeError):
        return None
    if server.pid is None or not pid_alive(server.pid, started=server.started) or not health_ok(server.api_url):
        return None
    return server


def health_within(api_url: str, wait_s: float) -> bool:
    """Whether ``GET <api_url>/health`` answers 200 within ``wait_s`` seconds (asked every 0.1 s: a server that is
    still starting); one request of at most 5 s when ``wait_s`` is 0."""
    deadline = time.monotonic() + wait_s
    while not health_ok(api_url, timeout_s=5.0 if wait_s <= 0 else 1.0):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def ensure_server(home: str | Path | None = None, port: int | None = None, *,
                  timeout_s: float = 90.0, wait_s: float = 0.0) -> PrefectServer:
    """The Prefect server to use: ``PREFECT_API_URL`` if set, else a recorded live one, else a new one.

    A reused server is reported with ``owned=False`` (another command started it; leave it running). ``wait_s``:
    how long a ``PREFECT_API_URL`` server may take to answer (one that ``emufleet up`` is starting meanwhile).

    Raises:
        OrchestrationError: ``PREFECT_API_URL`` is set but does not answer, or a new server failed to start.
    """
    existing = running_server(home)
    if existing is not None:
        if existing.pid is None and not health_within(existing.api_url, wait_s):
            raise OrchestrationError(f"PREFECT_API_URL={existing.api_url} does not answer /health")
        return existing
    return start_server(home, port, timeout_s=timeout_s)


def _same_api(a: str, b: str) -> bool:
    """Whether two API URLs name one server (``localhost`` and ``127.0.0.1`` alike, a trailing ``/`` ignored)."""
    def norm(url: str) -> tuple[str | None, int | None, str] | None:
        parts = _split(url.rstrip("/"))
        if parts is None:
            return None
        host = "127.0.0.1" if parts.hostname in ("localhost", "::1") else parts.hostname
        return host, parts.port, parts.path

    first = norm(a)
    return first is not None and first == norm(b)


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/@]*@)?(?:\[[0-9A-Fa-f:.]+\]|[^/:\[\]@]*)(?::(\d{0,5}))?(?:[/?#].*)?",
                  re.DOTALL)


def _split(url: str) -> SplitResult | None:
    """``urlsplit(url)`` when ``url`` is one it reads without raising (an authority of host and a port up to 65535),
    else ``None`` (urllib raises a bare ``ValueError`` for a bad port or bracket)."""
    found = _URL.fullmatch(url)
    if found is None or (found.group(1) and int(found.group(1)) > 65_535):
        return None
    return urlsplit(url)


def running_server(home: str | Path | None = None) -> PrefectServer | None:
    """The server to talk to without starting one: ``PREFECT_API_URL`` if set, else a recorded live one.

    When ``PREFECT_API_URL`` names the server ``emufleet server start`` recorded (what the docs tell users to
    export), that record is returned, with its pid. The URL is not probed here: see :func:`health_ok`.
    """
    external = os.environ.get("PREFECT_API_URL")
    found = _recorded(Path(home) if home is not None else state_dir() / "prefect")
    if external and (found is None or not _same_api(found.api_url, external)):
        ui = os.environ.get("PREFECT_UI_URL") or external.rstrip("/").removesuffix("/api")
        return PrefectServer(api_url=external, ui_url=ui)
    if found is None:
        return None
    return dataclasses.replace(found, owned=False)


def local_address(api_url: str) -> tuple[str, int] | None:
    """``(host, port)`` of an API URL on this machine's loopback (a server ``start`` could bring up there), or
    ``None`` for another host or a URL without a usable port."""
    parts = _split(api_url)
    if parts is None:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    return ("127.0.0.1" if parts.hostname == "localhost" else parts.hostname or "127.0.0.1"), port


def use_server(server: PrefectServer) -> None:
    """Point this process (and its children) at ``server``; call it before ``import prefect``.

    Also sets Prefect's flow-run heartbeat to :data:`HEARTBEAT_FREQUENCY_S` unless the environment says otherwise:
    the ``crash zombie runs`` automation (``emufleet automations apply``) then crashes a killed process's runs after
    three missed heartbeats, 90 s, instead of 9 minutes at Prefect's default (docs/supervision.md).
    """
    os.environ["PREFECT_API_URL"] = server.api_url
    os.environ.setdefault("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", str(HEARTBEAT_FREQUENCY_S))
    os.environ["PREFECT_UI_URL"] = server.ui_url
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if server.home:
        os.environ.setdefault("PREFECT_HOME", server.home)
    refresh_prefect_settings()


def refresh_prefect_settings() -> None:
    """Make Prefect's process-wide settings read the environment again, if Prefect is imported already.

    Threads that do not copy the caller's context (a ``ThreadPoolExecutor``, a bare ``Thread``) see Prefect's
    global settings, read once at ``import prefect``: without this, such a thread of a process that imported
    Prefect before :func:`use_server` has no API URL, and its first event or API call quietly starts a
    temporary server of its own on a random port.
    """
    if "prefect.context" in sys.modules:
        from prefect.context import refresh_global_settings_context

        refresh_global_settings_context()


def stop_server(server: PrefectServer, *, timeout_s: float = 20.0) -> None:
    """Stop a server this process started, with its worker processes (:func:`emufleet.process.stop_tree`: terminate,
    then kill after ``timeout_s``), and remove its record."""
    if not server.owned or server.pid is None:
        return
    stop_tree(server.pid, timeout_s=timeout_s)
    if server.home:
        record = Path(server.home) / _RECORD
        with contextlib.suppress(OSError, ValueError):
            if json.loads(record.read_text(encoding="utf-8")).get("pid") == server.pid:
                record.unlink()
