"""The suite's Prefect fixtures: ONE real Prefect server for the whole session (never ephemeral mode), and a private
project root. Registered for every test package by ``tests/conftest.py``; defining them in one place is what keeps it
one server (a fixture re-exported by a sub-package's conftest is a second session fixture, a second server, and
Prefect's process-wide events worker stays bound to whichever server it met first).

``prefect_server`` (session) starts the Prefect server through :func:`flows.server.start_server` (the code
``emufleet demo`` uses) on a free port with a temporary ``PREFECT_HOME``, points this process at it (environment
*and* Prefect's settings context, because ``prefect`` may already be imported) and stops it at the end.
``fleet_home`` is a private project root (test routines, a six-account pool, groups written by the test, its
own SQLite database) selected through ``EMUFLEET_HOME``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from emufleet.sim.adbserver import free_port
from flows.server import PrefectServer, refresh_prefect_settings, start_server, stop_server

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectServer]:
    """A Prefect server on a free port with its own home; this process's client points at it."""
    home = tmp_path_factory.mktemp("prefect-home")
    # a fresh database takes over 90 s to migrate on a busy 2-core machine
    server = start_server(home, free_port(), record=False, timeout_s=300)
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_ANALYTICS_ENABLED, temporary_settings

    try:
        with pytest.MonkeyPatch.context() as env, temporary_settings(
                updates={PREFECT_API_URL: server.api_url, PREFECT_SERVER_ANALYTICS_ENABLED: False}):
            for key, value in {"PREFECT_API_URL": server.api_url, "PREFECT_UI_URL": server.ui_url, "DO_NOT_TRACK": "1",
                               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}.items():
                env.setenv(key, value)  # for subprocesses and bare threads; restored at the end of the session
            refresh_prefect_settings()  # threads that do not copy contexts read Prefect's global settings
            from prefect.events.worker import EventsWorker

            EventsWorker.drain_all(timeout=5)  # a worker started earlier keeps the API URL it started with
            yield server
        refresh_prefect_settings()
    finally:
        try:
            from prefect.logging.handlers import APILogWorker

            APILogWorker.drain_all(timeout=5)  # ship the session's last logs before the server goes away
        finally:
            stop_server(server)


DATA = REPO / "tests" / "flows" / "data"


@dataclass
class FleetHome:
    """A private project root (``EMUFLEET_HOME``): shipped templates, test routines, a test pool, test groups."""

    root: Path
    database_url: str
    accounts: list[str]

    def group(self, name: str, **fields: Any) -> str:
        """Write ``groups/<name>.yaml`` (test defaults overridden by ``fields``; ``launch`` merged). Returns name."""
        launch = {"stagger": 0, "emulator_timeout": "20s", "refresh_pools": True,
                  "restart_policy": {"mode": "never", "max_restarts": 0, "initial_delay": "200ms"}}
        launch.update(fields.pop("launch", {}))
        data = {"version": 1, "name": name, "routine": "test/cycle", "backend": "adb", "pools": ["test"],
                "instances": [0], "bots": 1, "launch": launch, **fields}
        (self.root / "groups" / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        return name

    def engine(self) -> Any:
        from emufleet import db

        return db.engine(self.database_url)


@pytest.fixture
def fleet_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FleetHome:
    """A project root with the shipped templates, ``routines/test/*`` (from ``data/routines``), a pool ``test`` of
    6 demo accounts (``lease_ttl`` 60 s, retry on failure), an empty ``groups/`` and its own migrated SQLite
    database."""
    root = tmp_path / "home"
    for name in ("routines/test", "pools", "groups", "accounts", "state"):
        (root / name).mkdir(parents=True)
    (root / "templates").symlink_to(REPO / "templates", target_is_directory=True)
    for routine in (DATA / "routines").glob("*.yaml"):
        shutil.copy(routine, root / "routines" / "test" / routine.name)
    accounts = sorted((REPO / "accounts").glob("demo_*.xml"))[:6]
    for account in accounts:
        shutil.copy(account, root / "accounts" / account.name)
    (root / "pools" / "test.yaml").write_text(yaml.safe_dump({
        "version": 1, "pool_name": "test", "description": "six demo accounts",
        "queries": [{"name": "open", "filters": [
            {"column": "device_account", "comparator": "LIKE", "value": "demo_%"},
            {"column": "pool_status", "comparator": "IN", "value": ["available", "in_use"]}]}],
        "watched_paths": ["../accounts"],
        "config": {"sort_method": "modified_asc", "retry_failed": True, "max_failures": 3, "refresh_interval": 0,
                   "lease_ttl": 60},
    }, sort_keys=False), encoding="utf-8")
    url = f"sqlite:///{root / 'state' / 'emufleet.db'}"
    monkeypatch.setenv("EMUFLEET_HOME", str(root))
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(root / "state"))
    monkeypatch.setenv("EMUFLEET_DATABASE_URL", url)
    home = FleetHome(root, url, [a.stem for a in accounts])
    from emufleet import db

    db.upgrade(home.engine())
    return home
