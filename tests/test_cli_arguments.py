"""Issue 23 item 15: command-line numbers beyond 64 bits, negative, ``nan`` or huge are usage errors (exit 2), not
tracebacks or hangs (``instances list --count 2**70`` listed for ever on e7a0ec7)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet import db
from emufleet.cli import app

BIG = str(2**70)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("args", [
    ["device", "info", "127.0.0.1:1", "--timeout", "nan"],
    ["device", "info", "127.0.0.1:1", "--timeout", "-1"],
    ["device", "info", "127.0.0.1:1", "--timeout", "1e300"],
    ["device", "screenshot", "127.0.0.1:1", "x.png", "--timeout", "inf"],
    ["instances", "list", "--count", BIG],
    ["instances", "list", "--base-port", BIG],
    ["instances", "start", BIG],
    ["sim", "down", "--base-port", "-1"],
    ["pools", "test", "demo", "--sample", BIG],
    ["pools", "test", "demo", "--sample", "-5"],
    ["groups", "launch", "demo", "--bots", BIG],
    ["groups", "launch", "demo", "--max-accounts", "-1"],
    ["server", "start", "--port", BIG],
    ["server", "start", "--timeout", "nan"],
    ["templates", "match", "x.png", "--threshold", "nan"],
])
def test_bad_numbers_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), (result.exception, result.output)


def test_an_account_id_beyond_64_bits_is_no_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:

    monkeypatch.setenv("EMUFLEET_DATABASE_URL", f"sqlite:///{tmp_path / 'e.db'}")
    db.upgrade()
    result = CliRunner().invoke(app, ["accounts", "reset", BIG])
    assert result.exit_code in (1, 2) and not isinstance(result.exception, OverflowError), result.exception


def test_an_unusable_database_url_is_one_line(tmp_path: Path) -> None:
    emufleet = Path(sys.executable).with_name("emufleet")
    for url in ("mysql://u@h/x", "foo://x", "x" * 10000):
        done = subprocess.run([str(emufleet), "accounts", "list", "--url", url], capture_output=True, text=True,
                              timeout=120, check=False, cwd=tmp_path)
        assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("error: ") and len(done.stderr.splitlines()) == 1, done.stderr
