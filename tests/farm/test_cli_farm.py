"""``emufleet instances quarantined | release`` on a real SQLite database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from emufleet import db
from emufleet.cli import app
from emufleet.farm import quarantine


def test_list_and_release_a_quarantined_instance(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'emufleet.db'}"
    db.upgrade(url)
    runner = CliRunner()
    assert runner.invoke(app, ["instances", "quarantined", "--url", url]).output.strip() == "Nothing is quarantined."
    eng = db.engine(url)
    quarantine(eng, "instance", "local/127.0.0.1:16384", "9 fault(s) in the last 60 min", cooldown_s=900)
    eng.dispose()
    listed = runner.invoke(app, ["instances", "quarantined", "--url", url])
    assert listed.exit_code == 0 and "instance local/127.0.0.1:16384: 9 fault(s)" in listed.output
    assert "cool-down until" in listed.output
    released = runner.invoke(app, ["instances", "release", "local/127.0.0.1:16384", "--url", url])
    assert released.exit_code == 0 and "released" in released.output
    again = runner.invoke(app, ["instances", "release", "local/127.0.0.1:16384", "--url", url])
    assert again.exit_code == 1 and "is not quarantined" in again.output
