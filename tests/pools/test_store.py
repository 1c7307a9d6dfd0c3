"""Pool create/update/delete (seed CreatePool/UpdatePool/DeletePool): validated like files, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from emufleet.db import PoolMember
from emufleet.errors import PoolError, PoolValidationError
from emufleet.pools import (
    LeaseOwner,
    Pool,
    PoolDefinition,
    create_pool,
    delete_pool,
    discover,
    find_pool,
    pool_file_name,
    save_pool,
    update_pool,
)

FRESH = {"pool_name": "Premium Farmers", "description": "10+ packs",
         "queries": [{"name": "q", "filters": [{"column": "packs_opened", "comparator": ">=", "value": 10},
                                               {"column": "last_used_at", "comparator": "<=", "value": "now-12h"},
                                               {"column": "pool_status", "comparator": "IN",
                                                "value": ["available", "skipped"]}],
                      "sort": [{"column": "packs_opened", "direction": "DESC"}], "limit": 5}],
         "config": {"retry_failed": True, "refresh_interval": 30}}


def test_file_name_is_the_seeds_sanitised_pool_name() -> None:
    assert pool_file_name("Premium Farmers Pool (10+)") == "premium_farmers_pool_10.yaml"
    assert pool_file_name("../../etc") == "etc.yaml" and pool_file_name("!!!") == "pool.yaml"
    # issue 23 item 16: two non-ASCII names never map to one file; a long name still fits the file system
    assert pool_file_name("Équipe") != pool_file_name("Èquipe") and pool_file_name("日本") != pool_file_name("中国")
    assert len(pool_file_name("x" * 200)) < 100


def test_create_writes_a_file_that_loads_back_identically(tmp_path: Path) -> None:
    saved = create_pool(FRESH, directory=tmp_path)
    assert saved.file == tmp_path.resolve() / "premium_farmers.yaml"
    again = PoolDefinition.load(saved.file)
    assert again == saved and again.queries[0].limit == 5 and again.config.refresh_interval == 30
    assert again.queries[0].sort[0].direction == "desc"
    assert [e.definition.name for e in discover(tmp_path) if e.definition] == ["Premium Farmers"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind


def test_a_definition_round_trips_through_save(tmp_path: Path) -> None:
    original = create_pool(FRESH, directory=tmp_path / "a")
    copy = create_pool(original, directory=tmp_path / "b")
    assert copy.model_dump() == original.model_dump()  # typed values written back as YAML


def test_invalid_input_is_refused_with_the_errors_a_file_gets_and_nothing_is_written(tmp_path: Path) -> None:
    bad = {**FRESH, "queries": [{"name": "q", "filters": [{"column": "pack_count", "comparator": "=",
                                                            "value": 1}]}]}
    with pytest.raises(PoolValidationError, match=r"queries\[0\]\.filters\[0\]\.column: .*unknown column "
                                                  r"'pack_count'"):
        create_pool(bad, directory=tmp_path)
    with pytest.raises(PoolValidationError, match=r"premium_farmers.yaml:\d+:1: wat: unknown key"):
        create_pool({**FRESH, "wat": 1}, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="legacy `type: sql`"):
        create_pool({"name": "x", "type": "sql", "query": {"select": "SELECT 1"}}, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="mapping"):
        create_pool("- a\n- b\n", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_create_refuses_a_taken_name_and_update_renames(tmp_path: Path) -> None:
    create_pool(FRESH, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="already exists"):
        create_pool(FRESH, directory=tmp_path)
    updated = update_pool("Premium Farmers", {**FRESH, "description": "changed"}, directory=tmp_path)
    assert updated.description == "changed" and updated.file.name == "premium_farmers.yaml"
    renamed = update_pool("premium_farmers", {**FRESH, "pool_name": "Gold"}, directory=tmp_path)
    assert renamed.file.name == "gold.yaml" and sorted(p.name for p in tmp_path.iterdir()) == ["gold.yaml"]
    create_pool({**FRESH, "pool_name": "Silver"}, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="a pool named 'Silver' already exists"):
        update_pool("Gold", {**FRESH, "pool_name": "Silver"}, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="no pool named 'Bronze'.*known: Gold, Silver"):
        update_pool("Bronze", FRESH, directory=tmp_path)


def test_save_pool_creates_or_overwrites(tmp_path: Path) -> None:
    save_pool(FRESH, directory=tmp_path)
    with pytest.raises(PoolValidationError, match="already exists"):
        save_pool(FRESH, directory=tmp_path)
    assert save_pool({**FRESH, "description": "v2"}, directory=tmp_path, overwrite=True).description == "v2"


def test_a_broken_file_can_be_replaced_by_update(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("pool_name: broken\nqueries: nope\n")
    fixed = update_pool("broken", {"pool_name": "broken", "include": ["a@x"]}, directory=tmp_path)
    assert fixed.include == ["a@x"] and fixed.file.name == "broken.yaml"


def test_watched_paths_keep_pointing_at_the_same_folder_when_saved_elsewhere(tmp_path: Path) -> None:
    src = tmp_path / "drafts" / "p.yaml"
    src.parent.mkdir()
    (tmp_path / "imports").mkdir()
    src.write_text("pool_name: p\nwatched_paths: [../imports]\n")
    saved = save_pool(PoolDefinition.load(src), directory=tmp_path / "pools" / "nested")
    assert saved.watched_dirs() == [(tmp_path / "imports").resolve()]


def test_delete_removes_the_file_and_membership_and_refuses_while_leased(tmp_path: Path, db_engine: Engine,
                                                                          make_accounts) -> None:  # noqa: ANN001
    make_accounts(2)
    folder = tmp_path / "pools"
    definition = create_pool({"pool_name": "p", "queries": [{"name": "all", "filters": [
        {"column": "device_account", "comparator": "LIKE", "value": "acct_%"}]}]}, directory=folder)
    pool = Pool(definition, db_engine, LeaseOwner("run-1", "i0"))
    lease = pool.next()
    with pytest.raises(PoolError, match="1 account.*leased"):
        delete_pool("p", directory=folder, engine=db_engine)
    assert find_pool("p", folder).name == "p"
    pool.release(lease)
    assert delete_pool("p", directory=folder, engine=db_engine) == folder / "p.yaml"
    assert list(folder.iterdir()) == []
    with db_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(PoolMember)) == 0
    with pytest.raises(PoolValidationError, match="no pool named"):
        delete_pool("p", directory=folder)
