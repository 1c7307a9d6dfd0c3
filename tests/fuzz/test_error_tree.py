"""The one exception tree: database failures, bad lease arguments and CLI ends are ours, not a library's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine

from emufleet import db
from emufleet.accounts import import_paths
from emufleet.errors import DatabaseError, LeaseError
from emufleet.pools import leases
from emufleet.pools.definition import PoolDefinition
from emufleet.pools.leases import LeaseOwner
from emufleet.pools.pool import Pool
from tests.fuzz.corpus import REPO

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def empty_engine(tmp_path: Path) -> Engine:
    eng = db.engine(f"sqlite:///{tmp_path / 'never-migrated.db'}", create=True)  # exists, no tables
    yield eng
    eng.dispose()


def test_database_failures_are_database_errors(empty_engine: Engine) -> None:
    pool = Pool(PoolDefinition.load(REPO / "pools" / "demo.yaml"), empty_engine, LeaseOwner("r", "i"))
    for call in (pool.test, pool.refresh, pool.stats, lambda: pool.next(0),
                 lambda: import_paths(empty_engine, [REPO / "accounts"])):
        with pytest.raises(DatabaseError, match=r"OperationalError: no such table: \w+ \(run `emufleet db upgrade`\)"
                           ) as info:
            call()
        assert info.value.__cause__ is not None and info.value.action


@pytest.mark.parametrize("ttl", [0.0, -1.0, float("inf"), float("nan"), 1e300])
def test_lease_ttls_out_of_range_are_lease_errors(empty_engine: Engine, ttl: float) -> None:
    with pytest.raises(LeaseError, match="ttl_s must be in"):
        leases.acquire(empty_engine, LeaseOwner("r", "i"), ttl_s=ttl)


def test_the_cli_ends_an_unhandled_emufleet_error_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_bytes(b"not a database, " * 100)
    env = {"EMUFLEET_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    emufleet = Path(sys.executable).with_name("emufleet")  # the console script, whose main() is under test
    done = subprocess.run([str(emufleet), "pools", "test", str(REPO / "pools" / "demo.yaml")],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.startswith("error: database check: DatabaseError: file is not a database"), done.stderr
