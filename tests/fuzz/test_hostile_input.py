"""Every loader survives hostile input: a located error or a load, in bounded time, and never at the others' cost.

Each class of the hostile-input report (issue 10) is a named case; ``test_mutation_campaign`` runs the seeded
mutator over the shipped files. Time budgets are pytest-timeout's, not timed assertions.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from emufleet.accounts import import_paths, parse_account_xml
from emufleet.cli import app
from emufleet.db import Account
from emufleet.errors import AccountFileError, GroupValidationError, InputError
from emufleet.groups import GroupDefinition, LaunchOverrides
from emufleet.groups.store import GroupStore
from emufleet.pools.definition import PoolDefinition
from emufleet.pools.leases import LeaseOwner
from emufleet.pools.pool import Pool
from emufleet.routines import RoutineRegistry
from emufleet.yamlio import MAX_BYTES, decode_text, load_yaml, loads_yaml
from tests.fuzz.classes import GENERATED_KINDS
from tests.fuzz.corpus import KINDS, REPO, SHIPPED, Mutator, Workspace

pytestmark = pytest.mark.timeout(20)

ROUTINE = SHIPPED["routine"][0].read_bytes()
POOL = (REPO / "pools" / "demo.yaml").read_bytes()
GROUP = SHIPPED["group"][0].read_bytes()
ACCOUNT = SHIPPED["account"][0].read_bytes()


def _located(ws: Workspace, kind: str, data: bytes, fragment: str) -> None:
    """``data`` as a ``kind`` file is refused with a located error containing ``fragment``."""
    with pytest.raises(InputError) as info:
        getattr(ws, f"_{kind}")(data)
    assert info.value.file and fragment in str(info.value), str(info.value)


# -- the YAML layer ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "where", "fragment"), [
    (b"a: 1\nb: caf\xff\n", (2, 7), "invalid start byte"),
    (b"a: 1\nb: caf\xc3", (2, 7), "unexpected end of data"),              # truncated inside a multibyte character
    (b"a: \xe2\x82 x", (1, 4), "invalid continuation byte"),
])
def test_invalid_utf8_is_located(tmp_path: Path, raw: bytes, where: tuple[int, int], fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    with pytest.raises(InputError) as info:
        load_yaml(path)
    assert (info.value.file, info.value.line, info.value.col) == (str(path), *where)
    assert fragment in info.value.message


def test_utf16_with_a_bom_and_a_utf8_bom_are_read() -> None:
    assert loads_yaml(decode_text("a: é\n".encode("utf-16"))) == {"a": "é"}
    assert loads_yaml(decode_text(codecs.BOM_UTF8 + b"a: 1\n")) == {"a": 1}


@pytest.mark.parametrize("text", ["a: " + "[" * 5000 + "]" * 5000, "a: " + "{b: " * 3000 + "1" + "}" * 3000,
                                  "".join("  " * i + f"k{i}:\n" for i in range(100)) + "  " * 100 + "x"])
def test_deep_nesting_is_located_not_a_recursion_error(text: str) -> None:
    with pytest.raises(InputError, match=r"^d\.yaml:\d+:\d+: YAML: nested deeper than 64 levels"):
        loads_yaml(text, "d.yaml")


@pytest.mark.parametrize("literal", ["9" * 5000, "9223372036854775808", "-9223372036854775809", "0x" + "f" * 17,
                                     ":".join(["59"] * 30)])
def test_huge_integers_are_located(literal: str) -> None:
    with pytest.raises(InputError, match=r"^h\.yaml:2:4: YAML: (integer out of range|.* base-60 number)"):
        loads_yaml(f"a: 1\nb: {literal}\n", "h.yaml")
    assert loads_yaml("a: -9223372036854775808") == {"a": -(2**63)}


LAUGHS = "a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]\n" + "".join(
    f"{b}: &{b} [" + ",".join([f"*{a}"] * 10) + "]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.mark.parametrize(("kind", "template"), [
    ("routine", LAUGHS + "routine_name: *i\nsteps: [{action: *i}]\n"),
    ("group", LAUGHS + GROUP.decode().replace("routine_config: {}", "routine_config: {x: *i}")),
    ("pool", LAUGHS + POOL.decode().replace("value: [available, in_use]", "value: *i")),
    ("templates", LAUGHS + "templates: [{name: *i, path: x.png}]\n"),
])
def test_alias_expansion_bombs_are_refused_fast(workspace: Workspace, kind: str, template: str) -> None:
    _located(workspace, kind, template.encode(), "aliases expand this node beyond")


def test_aliases_and_merge_keys_within_the_budget_still_work() -> None:
    data = loads_yaml("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nd: [*b, *b]\n")
    assert data["c"] == {"x": 1, "y": 3} and data["d"] == [{"x": 1, "y": 2}] * 2
    with pytest.raises(InputError, match="recursive alias"):
        loads_yaml("a: &a [1, *a]")
    with pytest.raises(InputError, match="duplicate key 'y'"):
        loads_yaml("base: &b {x: 1}\nc:\n  <<: *b\n  y: 3\n  y: 4\n")


@pytest.mark.parametrize(("text", "fragment"), [
    ('a: "x\\0y"', "U+0000 is not allowed"), ('a: "\\ud800"', "U+D800 is not allowed"),
    ("a: x\x07", "U+0007 is not allowed"), ("a: !!binary AAAA", "!!binary is not supported"),
    ("a: !!python/object:os.system x", "could not determine a constructor"), ("a: 2025-13-45", "!!timestamp"),
    ("a: !!bool maybe", "not a valid !!bool"), ("a: 1\n---\nb: 2\n", "another document"),
    ("!!timestamp a: x", "'a' is not a valid !!timestamp"),  # PyYAML's own constructor: AttributeError
])
def test_characters_tags_and_scalars_no_model_takes_are_located(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        loads_yaml(text, "s.yaml")
    assert info.value.line is not None and fragment in info.value.message


def test_oversized_files_are_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: " + b"x" * (MAX_BYTES + 10))
    with pytest.raises(InputError, match="larger than the limit"):
        load_yaml(path)


# -- overflows: bounded per field, refused at load --------------------------------------------------------------

@pytest.mark.parametrize(("kind", "old", "new", "fragment"), [
    ("pool", b"value: \"demo_%\"}", b"value: \"demo_%\"}\n      - {column: last_used_at, comparator: '<', "
     b"value: now-99999999999d}", "more than 100 years from now"),
    ("pool", b"value: \"demo_%\"}", b"value: \"demo_%\"}\n      - {column: created_at, comparator: '<', "
     b"value: now-1000000d}", "more than 100 years from now"),
    ("pool", b"value: \"demo_%\"}", b"value: \"demo_%\"}\n      - {column: packs_opened, comparator: '<', "
     b"value: '100000000000000000000'}", "outside the 64-bit range"),
    ("pool", b"watched_paths:", b"    limit: 1000000000000000000000\nwatched_paths:", "integer out of range"),
    ("pool", b"watched_paths:", b"    limit: 2000000000\nwatched_paths:", "less than or equal to 1000000000"),
    ("pool", b"lease_ttl: 120", b"lease_ttl: .inf", "finite number"),
    ("pool", b"lease_ttl: 120", b"lease_ttl: 1e300", "less than or equal"),
    ("pool", b"refresh_interval: 300", b"refresh_interval: .nan", "finite number"),
    ("group", b"stagger: 1s", b"stagger: 99999999999999h", "cannot exceed 30 days"),
    ("group", b"emulator_timeout: 60s", b"emulator_timeout: .inf", "cannot exceed 30 days"),
    ("routine", b"duration: 300ms", b"duration: 1.0e+300", "cannot exceed 30 days"),
    ("routine", b"duration: 300ms", b"duration: .inf", "cannot exceed 30 days"),
])
def test_overflows_are_refused_at_load(workspace: Workspace, kind: str, old: bytes, new: bytes,
                                       fragment: str) -> None:
    source = {"pool": POOL, "group": GROUP, "routine": (SHIPPED["routine"][-1]).read_bytes()}[kind]
    assert old in source
    _located(workspace, kind, source.replace(old, new, 1), fragment)


def test_values_that_would_be_stringified_are_refused_or_bounded(workspace: Workspace) -> None:
    _located(workspace, "group", GROUP.replace(b"routine_config: {}", b"routine_config: {packs: [1, 2]}"),
             "routine_config.packs: Input should be a valid string")
    many = b"[" + b", ".join(b"v%d" % i for i in range(1001)) + b"]"
    _located(workspace, "pool", POOL.replace(b"[available, in_use]", many), "IN takes at most 1,000 values")


def test_launch_overrides_are_bounded_and_errors_name_the_group() -> None:
    with pytest.raises(ValueError, match="less than or equal"):
        LaunchOverrides(stagger=float("1e300"))
    group = GroupDefinition(name="g", routine="r", instances=[0, 1], bots=1)
    with pytest.raises(GroupValidationError) as info:
        group.with_overrides(LaunchOverrides(bots=2, instances=[0]))
    assert info.value.file and "bots (2) exceeds" in str(info.value)


# -- account XML ----------------------------------------------------------------------------------------------

ENTITY = ("<?xml version='1.0' encoding='utf-16' standalone='yes' ?>\n"
          "<!DOCTYPE map [<!ENTITY x 'injected@evil.invalid'>]>\n<map>\n"
          '    <string name="deviceAccount">&x;</string>\n    <string name="devicePassword">p</string>\n</map>\n')


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8"])
def test_dtds_and_entities_are_refused_in_every_encoding(encoding: str) -> None:
    with pytest.raises(AccountFileError) as info:
        parse_account_xml(ENTITY.replace("utf-16", encoding).encode(encoding), "evil.xml")
    assert (info.value.file, info.value.line) == ("evil.xml", 2) and "DTDs and entities" in info.value.message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "shift_jis"])
def test_any_declared_encoding_is_read(encoding: str) -> None:
    text = ACCOUNT.decode().replace("encoding='utf-8'", f"encoding='{encoding}'")
    assert parse_account_xml(text.encode(encoding), "a.xml").device_account == "demo_01@emufleet.invalid"


@pytest.mark.parametrize(("raw", "fragment"), [
    (ACCOUNT.replace(b"utf-8", b"bogus-8"), "unknown encoding 'bogus-8'"),
    (ACCOUNT.replace(b"demo_01", b"demo_\xff1"), "not valid utf-8"),
    (ACCOUNT.replace(b"demo_01", b"&#0;"), "not well-formed"),
    (ACCOUNT.replace(b"demo_01", b"x" * 300), "longer than 255"),
    (b"<map>" * 40000, "larger than the limit"),
    (b"<!DOCTYPE map SYSTEM 'file:///etc/passwd'><map/>", "DTDs and entities"),
])
def test_bad_account_files_are_located(raw: bytes, fragment: str) -> None:
    with pytest.raises(AccountFileError) as info:
        parse_account_xml(raw, "bad.xml")
    assert info.value.file == "bad.xml" and fragment in info.value.message


def test_one_bad_account_file_never_aborts_an_import_or_a_refresh(workspace: Workspace, tmp_path: Path) -> None:
    inbox = tmp_path / "accounts"
    inbox.mkdir()
    for path in SHIPPED["account"]:
        (inbox / path.name).write_bytes(path.read_bytes())
    (inbox / "evil.xml").write_bytes(ENTITY.encode("utf-16"))
    (inbox / "cut.xml").write_bytes(ACCOUNT[:50])
    report = import_paths(workspace.engine, [inbox])
    assert len(report.ids) == len(SHIPPED["account"])
    assert sorted(Path(e.file or "").name for e in report.errors) == ["cut.xml", "evil.xml"]
    (tmp_path / "pools").mkdir()
    pool_file = tmp_path / "pools" / "w.yaml"
    pool_file.write_text("pool_name: w\nwatched_paths: [../accounts]\n")
    pool = Pool(PoolDefinition.load(pool_file), workspace.engine, LeaseOwner("t", "t"))
    refresh = pool.refresh()
    assert refresh.members == len(SHIPPED["account"]) and len(refresh.file_errors) == 2
    with workspace.engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Account.device_account.like("%evil%"))) == 0


# -- one bad file among good ones -----------------------------------------------------------------------------

def test_a_bad_routine_is_reported_and_the_others_load(workspace: Workspace) -> None:
    _located(workspace, "routine", ROUTINE.replace(b"steps", b"st\xffeps", 1), "not valid UTF-8")
    folder = workspace.project / "routines"
    (folder / "zz_bad.yaml").write_bytes(b"steps: [" + b"[" * 2000)
    try:
        registry = RoutineRegistry.load(folder, workspace.templates)
        assert set(workspace.shipped_routines) <= set(registry.keys())
        assert "nested deeper" in str(registry.invalid()["zz_bad"][0])
    finally:
        (folder / "zz_bad.yaml").unlink()


@pytest.mark.parametrize("broken_last", [True, False])
def test_long_reference_chains_and_cycles_neither_recurse_nor_crawl(tmp_path: Path, broken_last: bool) -> None:
    n = 1100  # deeper than Python's recursion limit (1000)
    for i in range(n):
        nxt = "steps: [{action: Nope}]" if broken_last and i == n - 1 else \
            f"steps: [{{action: RunRoutine, routine: r{(i + 1) % n:04}}}]"
        (tmp_path / f"r{i:04}.yaml").write_text(nxt + "\n")
    (tmp_path / "alone.yaml").write_text("steps: []\n")
    registry = RoutineRegistry.load(tmp_path)
    assert registry.keys() == ["alone"] and len(registry.invalid()) == n
    assert ("is invalid" if broken_last else "reference cycle") in str(registry.invalid()["r0000"][0])


def test_validate_lists_every_bad_file_and_checks_the_rest(tmp_path: Path) -> None:
    routines, templates = tmp_path / "routines", tmp_path / "templates"
    (routines / "demo").mkdir(parents=True)
    for path in SHIPPED["routine"]:
        rel = path.relative_to(REPO / "routines")
        (routines / rel).parent.mkdir(parents=True, exist_ok=True)
        (routines / rel).write_bytes(path.read_bytes())
    (routines / "demo" / "broken.yaml").write_bytes(ROUTINE.replace(b"steps", b"st\xffeps", 1))
    (routines / "demo" / "deep.yaml").write_bytes(b"steps: " + b"[" * 5000)
    templates.mkdir()
    (templates / "images").symlink_to(REPO / "templates" / "images")
    (templates / "a.yaml").write_bytes((REPO / "templates" / "registry.yaml").read_bytes())
    (templates / "b.yaml").write_bytes(b"templates: [{name: Evil, path: ../../../etc/passwd}]\n")
    (templates / "c.yaml").write_bytes(LAUGHS.encode() + b"templates: *i\n")
    result = CliRunner().invoke(app, ["routines", "validate", str(routines), "--templates", str(templates)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ")[0].rsplit("/", 1)[-1].split(":")[0] for line in lines] == [
        "templates", "templates", "broken.yaml", "deep.yaml"], lines
    assert "leaves the images folder" in result.stdout and "aliases expand" in result.stdout
    assert "not valid UTF-8" in lines[2] and "nested deeper than 64 levels" in lines[3]
    assert "4 error(s)" in result.output  # the shipped routines passed against the templates that loaded
    listed = CliRunner().invoke(app, ["routines", "list", "--templates", str(templates), "--routines-root",
                                      str(routines)])
    assert listed.exit_code == 0 and "demo/account_cycle" in listed.stdout, listed.output


def test_a_bad_group_is_reported_and_the_others_load(workspace: Workspace) -> None:
    _located(workspace, "group", GROUP + b"\n\xff", "not valid UTF-8")
    with pytest.raises(GroupValidationError, match="is not a group name"):
        GroupStore(workspace.project / "groups").get("../pools/demo")


# -- paths ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../../x.png", "/etc/passwd", "sub/../../Main.png", "..\\\\Main.png"])
def test_template_images_stay_inside_the_images_folder(workspace: Workspace, path: str) -> None:
    _located(workspace, "templates", f"templates: [{{name: X, path: '{path}'}}]\n".encode(),
             "leaves the images folder")


def test_template_images_may_live_where_the_header_says(workspace: Workspace) -> None:
    shared = REPO / "templates" / "images"
    workspace._templates(f"images: {shared}\ntemplates: [{{name: X, path: Main.png}}]\n".encode())


# -- what already worked stays so -----------------------------------------------------------------------------

def test_sql_metacharacters_in_filters_are_bound(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text("pool_name: sq\nqueries:\n  - name: q\n    filters:\n"
                                     "      - {column: device_account, comparator: LIKE, "
                                     "value: \"%'; DROP TABLE accounts; --\"}\n"
                                     "      - {column: notes, comparator: IN, value: [\"') OR 1=1 --\"]}\n")
    result = Pool(PoolDefinition.load(tmp_path / "p.yaml"), workspace.engine, LeaseOwner("t", "t")).test()
    assert result.total == 0
    with workspace.engine.connect() as conn:
        conn.scalar(select(func.count()).select_from(Account))  # the table is still there


# -- the seeded campaign --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", [1, 2])
def test_mutation_campaign(workspace: Workspace, kind: str, seed: int) -> None:
    mutator = Mutator(seed * 1000 + KINDS.index(kind))
    outcomes = [workspace.run(kind, mutator.mutate(mutator.rng.choice(SHIPPED[kind]).read_bytes(), kind))
                for _ in range(30)]
    assert set(outcomes) <= {"accepted", "located"} and "located" in outcomes


@pytest.mark.parametrize("kind", GENERATED_KINDS)
def test_generated_classes_campaign(workspace: Workspace, kind: str) -> None:
    """Issue 23: the non-regular-file, encoding, image-size and CLI-argument classes, a few seeded inputs each
    (``benchmarks/fuzz.py`` runs thousands)."""
    mutator = Mutator(7000 + GENERATED_KINDS.index(kind))
    outcomes = [workspace.run(kind, mutator.input_for(kind)) for _ in range(5 if kind == "cli" else 12)]
    assert set(outcomes) <= {"accepted", "located"}
