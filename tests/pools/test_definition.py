"""Pool YAML: the seed corpus, located errors, the column whitelist, typed values and legacy conversions."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from emufleet.errors import PoolValidationError
from emufleet.pools import PoolDefinition, RelativeTime, discover, find_pool
from emufleet.settings import data_dir, seed_assets_dir

SEED_POOLS = seed_assets_dir() / "pools"
needs_seed = pytest.mark.skipif(not SEED_POOLS.is_dir(), reason="seed assets not available")


def _err(text: str) -> PoolValidationError:
    with pytest.raises(PoolValidationError) as info:
        PoolDefinition.loads(text, "p.yaml")
    return info.value


def _filters(value: str, column: str = "packs_opened", comparator: str = ">=") -> str:
    return f"pool_name: p\nqueries:\n  - name: q\n    filters:\n      - column: {column}\n" \
           f"        comparator: '{comparator}'\n        value: {value}\n"


@needs_seed
def test_seed_test_pool_2_loads() -> None:
    d = PoolDefinition.load(SEED_POOLS / "test_pool_2.yaml")
    assert d.name == "Test Pool 2"
    [query] = d.queries
    assert [(f.column, f.comparator, f.value) for f in query.filters] == [("shinedust", "!=", 12)]
    assert [(s.column, s.direction) for s in query.sort] == [("pokegold", "desc")]
    assert (d.config.sort_method, d.config.retry_failed, d.config.max_failures) == ("packs_desc", False, 2)


@needs_seed
def test_seed_structured_example_loads_with_aliases_and_relative_times() -> None:
    d = PoolDefinition.load(SEED_POOLS / "example_structured_pool.yaml.example")
    assert [q.name for q in d.queries] == ["high_pack_accounts", "recently_active", "high_shinedust"]
    recent = d.queries[1].filters[0]
    assert (recent.column, recent.value) == ("last_used_at", RelativeTime(timedelta(days=-7)))
    level = d.queries[2].filters[2]
    assert (level.column, level.enabled) == ("account_level", False)  # seed name `level` is an alias
    assert d.queries[0].filters[1].value is True  # is_active = "1" → bool
    assert d.include == ["premium_account@example.com", "test_account@example.com"]
    assert d.config.refresh_interval == 300


@needs_seed
@pytest.mark.parametrize("name", ["fresh_accounts.yaml", "premium_accounts.yaml", "retry_pool.yaml",
                                  "fresh_accounts.yaml.example", "premium_accounts.yaml.example",
                                  "retry_pool.yaml.example", "routine_cooldown.yaml.example"])
def test_seed_legacy_sql_pools_fail_with_the_conversion_error(name: str) -> None:
    with pytest.raises(PoolValidationError) as info:
        PoolDefinition.load(SEED_POOLS / name)
    err = info.value
    assert (err.file, err.line, err.col, err.field) == (str(SEED_POOLS / name), 4, 1, "type")
    assert "legacy `type: sql`" in err.message and "queries:" in err.message and "filters" in err.message


@needs_seed
def test_seed_legacy_file_pool_says_to_use_watched_paths() -> None:
    with pytest.raises(PoolValidationError, match=r"test_file_pool.yaml:4:1: type: .*watched_paths: \[./test_acc"):
        PoolDefinition.load(SEED_POOLS / "test_file_pool.yaml")


@needs_seed
def test_seed_raw_sql_query_fails_with_the_conversion_error() -> None:
    with pytest.raises(PoolValidationError) as info:
        PoolDefinition.load(SEED_POOLS / "test_unified_pool.yaml.example")
    assert (info.value.line, info.value.col, info.value.field) == (10, 5, "queries[0].sql")
    assert "raw SQL queries are not supported" in info.value.message


def test_shipped_pools_load() -> None:
    entries = discover(data_dir("pools"))
    assert {e.definition.name for e in entries if e.definition} >= {"demo", "fresh_accounts", "retry_failed"}
    assert [e.error for e in entries if e.error] == []
    assert find_pool("demo").watched_dirs() == [data_dir("accounts").resolve()]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (_filters("1", column="'x; DROP TABLE accounts; --'"), (5, 17), "unknown column 'x; DROP TABLE"),
        (_filters("1", column="total_shinedust"), (5, 17), "unknown column 'total_shinedust'"),
        (_filters("1", comparator="= 1 OR 1=1 --"), (6, 21), "unknown comparator"),
        (_filters("'10 OR 1=1'"), (7, 16), "integer column; '10 OR 1=1' is not an integer"),
        (_filters("available", column="pool_status", comparator="IN"), (7, 16), "IN takes a non-empty list"),
        (_filters("[1, 2]", comparator="="), (7, 16), "use IN for a list"),
        (_filters("'%x%'", comparator="LIKE"), (7, 16), "LIKE applies to text columns"),
        (_filters("yesterday", column="last_used_at"), (7, 16), "is not a time"),
        (_filters("'now-3 fortnights'", column="last_used_at"), (7, 16), "unknown time unit"),
        (_filters("2", column="is_banned", comparator="="), (7, 16), "is not 0, 1, true or false"),
        ("pool_name: p\ninclude: [a]\nconfig:\n  sort_method: fastest\n", (4, 16), "Input should be"),
        ("pool_name: p\ninclude: [a]\nconfig:\n  max_failures: -1\n", (4, 17), "greater than or equal to 0"),
        ("pool_name: p\ninclude: [a]\nretry: true\n", (3, 1), "unknown key"),
        ("pool_name: p\nexclude: [a]\n", (1, 1), "at least one source"),
        ("description: no name\ninclude: [a]\n", (1, 1), "Field required"),
        ("pool_name: p\nqueries:\n  - name: q\n    filters: []\n", (4, 14), "at least 1 item"),
        ("pool_name: p\nqueries:\n  - name: q\n    filters: [{column: id, comparator: '=', value: 1}]\n"
         "    sort: [{column: id, direction: up}]\n", (5, 36), "asc or desc"),
        ("pool_name: p\npool_name: q\n", (2, 1), "duplicate key"),
    ],
)
def test_errors_are_located(text: str, where: tuple[int, int], message: str) -> None:
    err = _err(text)
    assert (err.file, err.line, err.col) == ("p.yaml", *where), str(err)
    assert message in err.message


def test_values_are_typed_by_column() -> None:
    d = PoolDefinition.loads(
        "pool_name: p\nqueries:\n  - name: q\n    filters:\n"
        "      - {column: pool_status, comparator: not in, value: [failed, completed]}\n"
        "      - {column: failure_count, comparator: IN, value: ['1', 2]}\n"
        "      - {column: last_used_at, comparator: '<', value: 2025-01-31T12:00:00}\n"
        "      - {column: created_at, comparator: '>=', value: \"datetime('now', '-12 hours')\"}\n"
        "      - {column: wonder_picks, comparator: '>', value: '3'}\n"
        "      - {column: last_error, comparator: is not null}\n", "p.yaml")
    got = [(f.column, f.comparator, f.value) for f in d.queries[0].filters]
    assert got == [
        ("pool_status", "NOT IN", ("failed", "completed")),
        ("failure_count", "IN", (1, 2)),
        ("last_used_at", "<", datetime(2025, 1, 31, 12)),
        ("created_at", ">=", RelativeTime(timedelta(hours=-12))),
        ("wonder_picks_done", ">", 3),
        ("last_error", "IS NOT NULL", None),
    ]


def test_unreadable_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(PoolValidationError, match="missing.yaml: cannot read"):
        PoolDefinition.load(tmp_path / "missing.yaml")


def test_discover_reports_bad_files_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("pool_name: same\ninclude: [x]\n")
    (tmp_path / "b.yaml").write_text("pool_name: same\ninclude: [y]\n")
    (tmp_path / "c.yaml").write_text("name: old\ntype: sql\nquery: {select: SELECT 1}\n")
    (tmp_path / "d.yaml.example").write_text("ignored: true\n")
    entries = {e.path.name: e for e in discover(tmp_path)}
    assert sorted(entries) == ["a.yaml", "b.yaml", "c.yaml"]
    assert entries["a.yaml"].definition is not None
    assert "duplicate pool_name 'same'" in str(entries["b.yaml"].error)
    assert "legacy" in str(entries["c.yaml"].error)
    with pytest.raises(PoolValidationError, match="no pool named 'nope' \\(known: same\\)"):
        find_pool("nope", tmp_path)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("now", timedelta(0)),
        ("now-7d", timedelta(days=-7)),
        ("-12 hours", timedelta(hours=-12)),
        ("now + 30 min", timedelta(minutes=30)),
        ("NOW-1w", timedelta(weeks=-1)),
        ("datetime('now')", timedelta(0)),
        ("datetime('now', '-1 day')", timedelta(days=-1)),
        ("datetime('now','+90 seconds')", timedelta(seconds=90)),
    ],
)
def test_relative_times(text: str, offset: timedelta) -> None:
    d = PoolDefinition.loads(_filters(f'"{text}"', column="completed_at", comparator="<"), "p.yaml")
    assert d.queries[0].filters[0].value == RelativeTime(offset)


def test_aware_times_are_stored_as_utc() -> None:
    d = PoolDefinition.loads(_filters("2025-01-31T12:00:00+02:00", column="created_at"), "p.yaml")
    assert d.queries[0].filters[0].value == datetime(2025, 1, 31, 10, 0)
