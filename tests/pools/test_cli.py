"""``emufleet db|accounts|pools`` on the shipped samples, with a database file in ``tmp_path``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet import db
from emufleet.cli import app
from emufleet.settings import data_dir, seed_assets_dir


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201 - a small runner function
    monkeypatch.setenv("EMUFLEET_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    db.upgrade()  # only `emufleet db upgrade` creates a database
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: one line per row
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_import_then_test_refresh_and_stats_the_demo_pool(cli) -> None:  # noqa: ANN001
    assert f"at revision {db.head_revision()}" in cli("db", "upgrade")
    assert "12 accounts: 12 new" in cli("accounts", "import", str(data_dir("accounts")))
    out = cli("pools", "test", "demo")
    assert out.splitlines()[0] == "12 accounts" and "demo_01@emufleet.invalid" in out
    assert "12 members" in cli("pools", "refresh", "demo")
    assert "total=12 available=12 in_use=0 completed=0 failed=0" in cli("pools", "stats", "demo")
    assert "demo_12@emufleet.invalid" in cli("accounts", "list", "--status", "available")
    assert "no accounts" in cli("accounts", "list", "--status", "failed")


def test_pools_list_shows_the_shipped_pools(cli) -> None:  # noqa: ANN001
    out = cli("pools", "list")
    for name in ("demo.yaml", "fresh_accounts.yaml", "retry_failed.yaml"):
        assert name in out


def test_legacy_pool_file_is_reported_with_its_conversion(cli) -> None:  # noqa: ANN001
    legacy = seed_assets_dir() / "pools" / "premium_accounts.yaml"
    if not legacy.is_file():
        pytest.skip("seed assets not available")
    out = cli("pools", "test", str(legacy), code=1)
    assert "premium_accounts.yaml:4:1: type: legacy `type: sql` pool format" in out


def test_import_reports_bad_files_and_exits_1(cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "bad.xml").write_text("<account>x</account>")
    out = cli("accounts", "import", str(tmp_path), code=1)
    assert "bad.xml" in out and "expected <map>" in out


def test_export_round_trips_the_import(cli, tmp_path: Path) -> None:  # noqa: ANN001
    cli("accounts", "import", str(data_dir("accounts")))
    assert "12 accounts written" in cli("accounts", "export", str(tmp_path / "out"))
    for src in data_dir("accounts").glob("demo_*.xml"):
        exported = tmp_path / "out" / f"{src.stem}@emufleet.invalid.xml"
        assert exported.read_bytes() == src.read_bytes()


def test_unknown_pool_and_bad_status_are_errors(cli) -> None:  # noqa: ANN001
    assert "no pool named 'nope'" in cli("pools", "stats", "nope", code=1)
    assert "--status must be one of" in cli("accounts", "list", "--status", "vip", code=1)


def test_pools_save_and_delete(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    home = tmp_path / "home"
    (home / "pools").mkdir(parents=True)
    monkeypatch.setenv("EMUFLEET_HOME", str(home))
    draft = tmp_path / "draft.yaml"
    draft.write_text("pool_name: Gold Pool\nqueries:\n  - name: q\n    filters:\n"
                     "      - {column: packs_opened, comparator: '>=', value: 10}\n")
    assert "saved" in cli("pools", "save", str(draft)) and (home / "pools" / "gold_pool.yaml").is_file()
    assert "already exists" in cli("pools", "save", str(draft), code=1)
    draft.write_text(draft.read_text().replace("10}", "12}"))
    cli("pools", "save", str(draft), "--overwrite")
    assert "value: 12" in (home / "pools" / "gold_pool.yaml").read_text()
    draft.write_text(draft.read_text().replace("Gold Pool", "Silver"))
    cli("pools", "save", str(draft), "--replace", "Gold Pool")
    assert sorted(p.name for p in (home / "pools").iterdir()) == ["silver.yaml"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("pool_name: x\nqueries:\n  - name: q\n    filters: [{column: nope, comparator: '=', value: 1}]\n")
    assert "bad.yaml:4:" in cli("pools", "save", str(bad), code=1)
    assert "deleted" in cli("pools", "delete", "Silver")
    assert "no pool named 'Silver'" in cli("pools", "delete", "Silver", code=1)


def test_accounts_reset_and_last_refreshed(cli) -> None:  # noqa: ANN001
    cli("accounts", "import", str(data_dir("accounts")))
    assert "never" in cli("pools", "list")
    assert "last refreshed: never" in cli("pools", "stats", "demo")
    assert "(last refreshed before: never)" in cli("pools", "refresh", "demo")
    assert re.search(r"last refreshed: \d+s ago", cli("pools", "stats", "demo"))
    assert "0 account(s) reset" in cli("accounts", "reset", "--status", "failed")
    assert "12 account(s) reset" in cli("accounts", "reset", "--pool", "demo")
    assert "1 account(s) reset" in cli("accounts", "reset", "demo_01@emufleet.invalid")
    assert "no such account(s): nobody" in cli("accounts", "reset", "nobody", code=1)
    assert "say which accounts" in cli("accounts", "reset", code=1)
    assert "12 account(s) reset" in cli("accounts", "reset", "--all")
