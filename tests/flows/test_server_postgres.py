"""``emufleet server start --postgres URL``: the Prefect server on PostgreSQL, a flow run against it, then stop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from emufleet.process import pid_alive
from emufleet.sim.adbserver import free_port

EMUFLEET = str(Path(sys.executable).with_name("emufleet"))
FLOW = """
from prefect import flow

@flow(name="pg-probe")
def probe(x: int) -> int:
    return x * 2

state = probe(21, return_state=True)
print(state.type.value, state.result())
"""


@pytest.fixture
def prefect_database() -> Iterator[str]:
    """A new empty database on the test cluster (``EMUFLEET_TEST_POSTGRES_URL``'s), dropped afterwards."""
    base = make_url(os.environ["EMUFLEET_TEST_POSTGRES_URL"])
    name = f"prefect_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def _emufleet(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EMUFLEET, *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)


@pytest.mark.postgres
def test_server_on_postgres_runs_a_flow_and_stops(prefect_database: str, tmp_path: Path) -> None:
    home = tmp_path / "prefect"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    started = _emufleet("server", "start", "--postgres", prefect_database, "--home", str(home),
                        "--port", str(free_port()), env=env)
    assert started.returncode == 0, started.stdout + started.stderr
    record = json.loads((home / "server.json").read_text(encoding="utf-8"))
    try:
        assert record["database"].startswith("postgresql+psycopg://") and record["database"].endswith(
            prefect_database.rsplit("/", 1)[1])
        status = _emufleet("server", "status", "--home", str(home), env=env)
        assert status.returncode == 0 and "healthy" in status.stdout, status.stdout
        ran = subprocess.run([sys.executable, "-c", FLOW], capture_output=True, text=True, timeout=120, check=False,
                             env={**env, "PREFECT_API_URL": record["api_url"], "DO_NOT_TRACK": "1"})
        assert ran.returncode == 0 and ran.stdout.split()[-2:] == ["COMPLETED", "42"], ran.stdout + ran.stderr
        eng = create_engine(prefect_database)
        try:
            with eng.connect() as conn:  # the run is in PostgreSQL, not in a SQLite file under the home
                names = conn.execute(text("select f.name from flow_run r join flow f on f.id = r.flow_id")).scalars()
                assert list(names) == ["pg-probe"]
        finally:
            eng.dispose()
        assert not list(home.glob("*.db"))
    finally:
        stopped = _emufleet("server", "stop", "--home", str(home), env=env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not pid_alive(record["pid"]) and not (home / "server.json").exists()


def test_a_non_postgres_url_is_refused(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    result = _emufleet("server", "start", "--postgres", "sqlite:///x.db", "--home", str(tmp_path), env=env)
    assert result.returncode == 1 and "not a PostgreSQL URL" in result.stderr
    assert not (tmp_path / "server.json").exists()
