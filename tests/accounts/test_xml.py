"""SharedPreferences account files: round trip, the seed's files, bad input, and the database import/export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Engine, update

from emufleet import accounts, db
from emufleet.accounts import AccountCredentials, parse_account_xml, render_account_xml
from emufleet.errors import AccountFileError
from emufleet.settings import data_dir, seed_assets_dir

SEED_ACCOUNTS = seed_assets_dir() / "accounts"
needs_seed = pytest.mark.skipif(not SEED_ACCOUNTS.is_dir(), reason="seed assets not available")

# XML 1.0 text: no control characters other than tab/newline, no surrogates; no surrounding whitespace
# (values are stripped on read, as Android writes them without any).
xml_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    min_size=1, max_size=40,
).map(str.strip).filter(bool)


@given(xml_text, xml_text)
def test_round_trip(name: str, password: str) -> None:
    creds = AccountCredentials(name, password)
    assert parse_account_xml(render_account_xml(creds)) == creds


@needs_seed
def test_seed_files_parse_and_render_back_byte_for_byte() -> None:
    for path in sorted(SEED_ACCOUNTS.glob("*.xml")):
        creds = accounts.read_account_file(path)
        assert creds.device_account.endswith("@example.com")
        assert render_account_xml(creds) == path.read_bytes()


def test_rendered_file_has_the_android_header_and_a_map_root() -> None:
    text = render_account_xml(AccountCredentials("a&b<c>@x", "p\"'")).decode()
    assert text.startswith("<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n<map>\n")
    assert '<string name="deviceAccount">a&amp;b&lt;c&gt;@x</string>' in text


@pytest.mark.parametrize(
    ("data", "message", "line"),
    [
        (b"<map><string name='deviceAccount'>a</string>", "not well-formed XML", 1),
        (b"<account>x</account>\n<password>y</password>\n", "not well-formed XML", 2),
        (b"<account>x</account>", "expected <map> (the seed's pool format", 1),
        (b"<XMLMap><string name='deviceAccount'>a</string></XMLMap>", "root element is <XMLMap>", 1),
        (b"<map><string name='deviceAccount'>a</string></map>", 'missing or empty <string name="devicePassword">',
         None),
        (b"<!DOCTYPE map [<!ENTITY x 'y'>]><map/>", "DTDs and entities are not allowed", 1),
    ],
)
def test_bad_files_are_located_errors(data: bytes, message: str, line: int | None) -> None:
    with pytest.raises(AccountFileError) as info:
        parse_account_xml(data, "bad.xml")
    assert info.value.file == "bad.xml" and info.value.line == line
    assert message in info.value.message


@needs_seed
def test_seed_account_files_import(db_engine: Engine) -> None:
    report = accounts.import_paths(db_engine, [SEED_ACCOUNTS])
    assert (report.created, report.errors) == (3, [])
    assert sorted(report.ids) == [f"test_account_00{i}@example.com" for i in (1, 2, 3)]
    row = accounts.find_account(db_engine, "test_account_002@example.com")
    assert row is not None and row.device_password == "password002" and row.pool_status == "available"


def test_shipped_demo_accounts_import(db_engine: Engine) -> None:
    report = accounts.import_paths(db_engine, [data_dir("accounts")])
    assert report.errors == [] and report.created == 12
    assert sorted(report.ids) == [f"demo_{i:02d}@emufleet.invalid" for i in range(1, 13)]


def test_reimport_updates_password_and_keeps_pool_state(db_engine: Engine, tmp_path: Path) -> None:
    path = accounts.write_account_file(tmp_path / "a.xml", AccountCredentials("a@test.invalid", "one"))
    (tmp_path / "bad.xml").write_text("<map/>")
    first = accounts.import_paths(db_engine, [tmp_path])
    assert first.created == 1 and len(first.errors) == 1 and "bad.xml" in str(first.errors[0])
    with db_engine.begin() as conn:
        conn.execute(update(db.Account).values(pool_status="completed", packs_opened=7))
    accounts.write_account_file(path, AccountCredentials("a@test.invalid", "two"))
    again = accounts.import_paths(db_engine, [path])
    assert (again.created, again.updated) == (0, 1)
    row = accounts.find_account(db_engine, "a@test.invalid")
    assert row is not None and (row.device_password, row.pool_status, row.packs_opened) == ("two", "completed", 7)


def test_export_then_import_into_another_database(db_engine: Engine, tmp_path: Path) -> None:
    accounts.import_paths(db_engine, [data_dir("accounts")])
    written = accounts.export_accounts(db_engine, tmp_path / "out")
    assert len(written) == 12
    other = db.engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        db.upgrade(other)
        report = accounts.import_paths(other, [tmp_path / "out"])
        assert report.created == 12
        assert {(a.device_account, a.device_password) for a in accounts.list_accounts(other)} == {
            (a.device_account, a.device_password) for a in accounts.list_accounts(db_engine)}
    finally:
        other.dispose()


def test_export_file_names_are_safe(db_engine: Engine, tmp_path: Path) -> None:
    assert accounts.account_file_name("plain_name@x.y") == "plain_name@x.y.xml"
    assert re.fullmatch(r"_\.\._etc_passwd-[0-9a-f]{10}\.xml", accounts.account_file_name("../../etc/passwd"))
    assert re.fullmatch(r"a_b_c@x\.y-[0-9a-f]{10}\.xml", accounts.account_file_name("a b/c@x.y"))
