"""``emufleet pools convert``: every legacy pool of the seed becomes a valid unified pool or an exact list of what
cannot be expressed; the seed's config keys are explained, not "unknown key"."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.errors import PoolValidationError
from emufleet.pools import PoolDefinition
from emufleet.pools.convert import convert_pool_file
from emufleet.pools.legacy_sql import read_select
from emufleet.settings import seed_assets_dir

SEED = seed_assets_dir() / "pools"
needs_seed = pytest.mark.skipif(not SEED.is_dir(), reason=f"seed assets not found at {SEED}")

#: seed file → [(line, fragment of the problem)] (empty: converted exactly)
EXPECTED: dict[str, list[tuple[int, str]]] = {
    "fresh_accounts.yaml": [],
    "fresh_accounts.yaml.example": [],
    "premium_accounts.yaml": [],
    "premium_accounts.yaml.example": [],
    "retry_pool.yaml": [(8, "LIMIT 25 over an OR: each of the 2 queries takes up to 25")],
    "retry_pool.yaml.example": [(8, "LIMIT 25 over an OR")],
    "routine_cooldown.yaml.example": [(23, "joins are not expressible"), (36, "re.last_completed"),
                                      (38, "functions of columns are not expressible: datetime(re.last_completed)"),
                                      (40, "NULLS FIRST")],
    "test_file_pool.yaml": [],
    "test_unified_pool.yaml.example": [],
}


@needs_seed
def test_every_legacy_seed_pool_is_covered() -> None:
    legacy = {p.name for p in SEED.iterdir() if any(k in p.read_text() for k in ("type: \"sql\"", "type: \"file\"",
                                                                                  "sql: |"))}
    assert legacy == set(EXPECTED)


@needs_seed
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_legacy_pool_converts_or_says_exactly_why_not(name: str, tmp_path: Path) -> None:
    conv = convert_pool_file(SEED / name)
    problems = [(int(p.split(":")[1]), p) for p in conv.problems]
    assert len(problems) == len(EXPECTED[name]), conv.problems
    for (line, text), (want_line, want) in zip(problems, EXPECTED[name], strict=True):
        assert line == want_line and want in text, text
    loaded = PoolDefinition.loads(conv.text, tmp_path / "converted.yaml")  # valid as a pool file
    assert loaded.name == conv.data["pool_name"]


@needs_seed
def test_the_fresh_pool_keeps_its_meaning() -> None:
    conv = convert_pool_file(SEED / "fresh_accounts.yaml")
    (query,) = conv.data["queries"]
    assert query["filters"] == [{"column": "pool_status", "comparator": "=", "value": "available"},
                                {"column": "completed_at", "comparator": "IS NULL"},
                                {"column": "failure_count", "comparator": "=", "value": 0},
                                {"column": "packs_opened", "comparator": ">=", "value": 5}]
    assert query["sort"] == [{"column": "packs_opened", "direction": "desc"}] and query["limit"] == 50
    assert conv.data["config"] == {"retry_failed": False, "max_failures": 1, "refresh_interval": 60.0}
    assert any("max_wait_time: 2m" in n and "timeout" in n for n in conv.notes)
    assert any(n.startswith("buffer_size: 50 — not needed") for n in conv.notes)
    assert any(n.startswith("wait_for_accounts: true") and "on_no_accounts: wait" in n for n in conv.notes)


def test_sql_reader_maps_what_the_grammar_has_and_reports_the_rest() -> None:
    read = read_select("SELECT * FROM accounts a WHERE a.packs_opened BETWEEN ? AND ? AND 3 > failure_count "
                       "AND shinedust = hourglasses AND NOT (is_banned = 1) AND last_used_at <= datetime('now', "
                       "'-7 days') ORDER BY packs_opened DESC, id LIMIT 5 OFFSET 2", [1, 9])
    (group,) = read.groups
    assert [(p.column, p.comparator, p.value) for p in group] == [
        ("packs_opened", ">=", 1), ("packs_opened", "<=", 9), ("failure_count", "<", 3),
        ("last_used_at", "<=", "datetime('now', '-7 days')")]
    assert read.sort == [("packs_opened", "desc"), ("id", "asc")] and read.limit == 5
    messages = [p.message for p in read.problems]
    assert any("Offset has no structured form" in m for m in messages)
    assert any("comparing two columns" in m for m in messages)
    assert any(m.startswith("NOT (…)") for m in messages)
    assert "? placeholders" in read_select("SELECT * FROM accounts WHERE id = ?", []).problems[0].message


def test_or_becomes_queries(tmp_path: Path) -> None:
    legacy = tmp_path / "p.yaml"
    legacy.write_text("name: p\ntype: sql\nquery:\n  select: SELECT * FROM accounts WHERE (status = 'failed' OR "
                      "status = 'skipped') AND pack_count >= 3\n")
    conv = convert_pool_file(legacy)
    assert conv.exact and [q["name"] for q in conv.data["queries"]] == ["legacy query (1 of 2)",
                                                                        "legacy query (2 of 2)"]
    assert conv.data["queries"][1]["filters"] == [{"column": "pool_status", "comparator": "=", "value": "skipped"},
                                                  {"column": "packs_opened", "comparator": ">=", "value": 3}]


def test_seed_config_keys_in_a_unified_pool_are_explained() -> None:
    text = "pool_name: p\ninclude: [a@x]\nconfig:\n  retry_failed: true\n  wait_for_accounts: true\n"
    with pytest.raises(PoolValidationError, match=r"p.yaml:5:3: config.wait_for_accounts: the seed's "
                                                  r"'wait_for_accounts' is not a pool setting.*on_no_accounts: wait"):
        PoolDefinition.loads(text, "p.yaml")
    with pytest.raises(PoolValidationError, match="buffer_size.*no queue"):
        PoolDefinition.loads(text.replace("wait_for_accounts: true", "buffer_size: 50"), "p.yaml")
    with pytest.raises(PoolValidationError, match="max_wait_time.*timeout"):
        PoolDefinition.loads(text.replace("wait_for_accounts: true", "max_wait_time: 5m"), "p.yaml")
    with pytest.raises(PoolValidationError, match="pool_config.*legacy name: write `config:`"):
        PoolDefinition.loads("pool_name: p\ninclude: [a@x]\npool_config: {}\n", "p.yaml")
    with pytest.raises(PoolValidationError, match="emufleet pools convert FILE"):
        PoolDefinition.loads("name: p\ntype: sql\nquery: {select: SELECT 1}\n", "p.yaml")


@needs_seed
def test_cli_convert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runner = CliRunner()
    out = tmp_path / "fresh.yaml"
    ok = runner.invoke(app, ["pools", "convert", str(SEED / "fresh_accounts.yaml"), "--out", str(out)])
    assert ok.exit_code == 0, ok.output
    assert PoolDefinition.load(out).name == "Fresh Account Pool" and "note: buffer_size" in ok.stderr
    refused = runner.invoke(app, ["pools", "convert", str(SEED / "routine_cooldown.yaml.example"), "--out",
                                  str(tmp_path / "cool.yaml")])
    assert refused.exit_code == 1 and not (tmp_path / "cool.yaml").exists()
    assert "routine_cooldown.yaml.example:23: joins are not expressible" in refused.stderr
    assert "4 thing(s) cannot be expressed" in refused.stderr
    partial = runner.invoke(app, ["pools", "convert", str(SEED / "retry_pool.yaml"), "--partial"])
    assert partial.exit_code == 1 and "# NOT EXPRESSED:" in partial.stdout and "pool_name: High Value" in partial.stdout
    home = tmp_path / "home"
    (home / "pools").mkdir(parents=True)
    monkeypatch.setenv("EMUFLEET_HOME", str(home))
    saved = runner.invoke(app, ["pools", "convert", str(SEED / "test_file_pool.yaml"), "--save"])
    assert saved.exit_code == 0 and (home / "pools" / "test_file_pool.yaml").is_file()
    unified = runner.invoke(app, ["pools", "convert", str(SEED / "test_pool_2.yaml")])
    assert unified.exit_code == 0 and "already a valid unified pool" in unified.stdout


def test_a_unified_pool_is_a_typed_nothing_to_convert() -> None:
    """The CLI tells "already unified" from a broken file by the error's type, not by its message's words."""
    from emufleet.errors import NothingToConvert

    with pytest.raises(NothingToConvert) as caught:
        convert_pool_file(SEED / "test_pool_2.yaml")
    assert caught.value.field == "pool_name"
