"""Issue 23 items 10, 12, 13, 14: files that are not regular files, account XML that lies, images that are too big,
an export that must not lose accounts. Every case failed on e7a0ec7 (a hang, a traceback, or a silent loss).

A FIFO opened blocking would hang for ever: pytest-timeout is the hang guard here, not a timed assertion.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from emufleet import accounts, db
from emufleet.accounts import AccountCredentials, import_paths, parse_account_xml, scan_account_files
from emufleet.cli import app
from emufleet.datafiles import list_data_files, read_data_file
from emufleet.errors import AccountFileError, InputError, RoutineValidationError, TemplateRegistryError, VisionError
from emufleet.groups.store import GroupStore
from emufleet.hosts.registry import HostStore
from emufleet.pools import discover
from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet
from emufleet.vision.images import MAX_IMAGE_PIXELS, decode_image, read_image
from tests.db.fixtures import add_accounts
from tests.fuzz.corpus import REPO, SHIPPED

pytestmark = [pytest.mark.timeout(30), pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")]

ACCOUNT = SHIPPED["account"][0].read_bytes()


def _hostile_folder(folder: Path, suffix: str, good: bytes) -> dict[str, Path]:
    """``folder`` with one good file and every kind of file that must be skipped, all named ``*<suffix>``."""
    folder.mkdir(parents=True, exist_ok=True)
    outside = folder.parent / f"outside{suffix}"
    outside.write_bytes(good)
    (folder / f"good{suffix}").write_bytes(good)
    bad = {"fifo": folder / f"fifo{suffix}", "dir": folder / f"dir{suffix}", "loop": folder / f"loop{suffix}",
           "out": folder / f"out{suffix}", "dev": folder / f"dev{suffix}", "broken": folder / f"broken{suffix}"}
    os.mkfifo(bad["fifo"])
    bad["dir"].mkdir()
    bad["loop"].symlink_to(bad["loop"].name)
    bad["out"].symlink_to(outside)
    bad["dev"].symlink_to("/dev/zero")  # a device, and outside the folder
    bad["broken"].symlink_to("nowhere")
    return bad


def _warned(caplog: pytest.LogCaptureFixture, bad: dict[str, Path]) -> None:
    text = caplog.text
    missing = [str(p) for p in bad.values() if str(p) not in text]
    assert not missing, f"no warning names {missing}:\n{text}"


def test_the_shared_listing_skips_every_kind_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    bad = _hostile_folder(tmp_path / "data", ".yaml", b"a: 1\n")
    skipped: list[tuple[Path, str]] = []
    with caplog.at_level(logging.WARNING):
        files = list_data_files(tmp_path / "data", {".yaml"}, skipped=skipped)
    assert files == [tmp_path / "data" / "good.yaml"]
    reasons = dict(skipped)
    assert "a FIFO" in reasons[bad["fifo"]] and "a folder" in reasons[bad["dir"]]
    assert "loop" in reasons[bad["loop"]] and "outside" in reasons[bad["out"]] and "outside" in reasons[bad["dev"]]
    _warned(caplog, bad)
    with pytest.raises(InputError, match="a FIFO, not a regular file"):
        read_data_file(bad["fifo"], 100)  # named directly: refused, never opened blocking
    with pytest.raises(InputError, match="a character device"):
        read_data_file("/dev/zero", 100)


def test_every_data_folder_skips_fifos_devices_and_links_out(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                            ) -> None:
    routine = SHIPPED["routine"][0].read_bytes()
    for name, good in (("groups", SHIPPED["group"][0].read_bytes()), ("pools", (REPO / "pools" / "demo.yaml")
                                                                       .read_bytes()),
                       ("routines", routine), ("hosts", b"name: h1\n")):
        bad = _hostile_folder(tmp_path / name, ".yaml", good)
        with caplog.at_level(logging.WARNING):
            if name == "groups":
                listing = GroupStore(tmp_path / name).list()
                assert len(listing.groups) == 1 and not listing.errors, listing.errors
            elif name == "pools":
                entries = discover(tmp_path / name)
                assert [e.path.name for e in entries] == ["good.yaml"] and entries[0].error is None
            elif name == "routines":
                registry = RoutineRegistry.load(tmp_path / name)
                assert {*registry.keys(), *registry.invalid()} == {"good"}  # read (it may miss its templates)
            else:
                assert "h1" in HostStore(tmp_path / name).list().hosts
        if name == "routines":
            del bad["dir"]  # routines are read recursively: a folder named dir.yaml is a folder of routines
        _warned(caplog, bad)
        caplog.clear()
    bad = _hostile_folder(tmp_path / "accounts", ".xml", ACCOUNT)
    with caplog.at_level(logging.WARNING):
        found, errors = scan_account_files([tmp_path / "accounts"])
    assert [p.name for _, p in found] == ["good.xml"] and not errors
    del bad["dir"]  # walked recursively: a folder of account files
    _warned(caplog, bad)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "registry.yaml").write_bytes(b"templates: []\n")
    os.mkfifo(templates / "fifo.yaml")
    assert len(TemplateSet.load(templates)) == 0


def test_routines_validate_never_calls_an_unread_file_valid(tmp_path: Path) -> None:
    root = tmp_path / "routines"
    root.mkdir()
    (root / "notes.txt").write_text("not a routine\n")
    os.mkfifo(root / "fifo.yaml")
    (root / "passwd.yaml").symlink_to("/etc/passwd")
    runner = CliRunner()
    for name, fragment in (("notes.txt", "not a routine file"), ("fifo.yaml", "a FIFO, not a regular file")):
        result = runner.invoke(app, ["routines", "validate", str(root / name)])
        assert result.exit_code == 1 and fragment in result.output, result.output
    result = runner.invoke(app, ["routines", "validate", str(root)])
    assert "ok:" in result.output and "0 routine file(s)" in result.output, result.output  # both skipped
    link = tmp_path / "everything"
    link.symlink_to("/")
    with pytest.raises(RoutineValidationError, match="more than 1,000 entries"):  # the walk of / stops at the limit
        list_data_files(link, {".yaml"}, recursive=True, error=RoutineValidationError, max_entries=1000)


# -- item 12: account XML -----------------------------------------------------------------------------------------

def _xml(account: str = "a@x", password: str = "pw", *, declaration: str = "utf-8", extra: str = "") -> bytes:
    return (f"<?xml version='1.0' encoding='{declaration}' standalone='yes' ?>\n<map>\n"
            f'    <string name="deviceAccount">{account}</string>\n'
            f'    <string name="devicePassword">{password}</string>\n{extra}</map>\n').encode("latin-1")


@pytest.mark.parametrize(("data", "fragment", "line"), [
    (_xml(declaration="rot13"), "not a text encoding", 1),
    (_xml(declaration="zlib"), "not a text encoding", 1),
    (_xml(declaration="hex"), "not a text encoding", 1),
    (_xml(declaration="utf-16"), "not a text encoding", 1),  # declared, but the bytes are ASCII: a lie
    (_xml(account="ab<b>cd</b>ef"), "<b> inside the value", 3),
    (_xml(extra='    <string name="deviceAccount">other@x</string>\n'), "is given twice", 5),
    (_xml(account="evil\nname"), "control character", 3),
])
def test_lying_account_files_are_refused_located(data: bytes, fragment: str, line: int) -> None:
    with pytest.raises(AccountFileError) as info:
        parse_account_xml(data, "bad.xml")
    assert fragment in info.value.message and info.value.file == "bad.xml" and info.value.line == line, \
        str(info.value)


def test_password_spaces_are_kept_and_latin1_still_reads() -> None:
    assert parse_account_xml(_xml(password="  pw with spaces  ")).device_password == "  pw with spaces  "
    assert parse_account_xml(_xml(account="caf\xe9@x", declaration="iso-8859-1")).device_account == "caf\xe9@x"


def test_one_lying_file_is_refused_and_the_others_imported(db_engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(_xml(declaration="zlib"))
    (tmp_path / "b.xml").write_bytes(_xml(account="b@x"))
    report = import_paths(db_engine, [tmp_path])
    assert list(report.ids) == ["b@x"] and [e.file for e in report.errors] == [str(tmp_path / "a.xml")]


# -- item 13: images ----------------------------------------------------------------------------------------------

def _png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares ``width``×``height`` (its pixel data is a few bytes)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


def test_an_image_declaring_too_many_pixels_is_refused_before_decoding(tmp_path: Path) -> None:
    with pytest.raises(VisionError, match="declares 40000×40000 pixels"):
        decode_image(_png_declaring(40000, 40000), "huge.png")
    ok = cv2.imencode(".png", np.zeros((4, 4, 3), np.uint8))[1].tobytes()
    assert decode_image(ok, "ok.png").shape == (4, 4, 3)
    assert MAX_IMAGE_PIXELS >= 3840 * 2160  # a 4K screenshot still reads
    cut = tmp_path / "cut.png"
    cut.write_bytes(_png_declaring(64, 64))  # a valid header over pixel data that is far too short
    with pytest.raises(VisionError, match="cut.png"):
        read_image(cut)


def test_a_bad_image_is_a_located_template_error_and_the_others_load(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "ok.png"), np.random.default_rng(1).integers(0, 255, (20, 20, 3), np.uint8))
    (images / "huge.png").write_bytes(_png_declaring(40000, 40000))
    (images / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (tmp_path / "registry.yaml").write_text(
        "images: images\ntemplates:\n  - {name: ok, path: ok.png}\n  - {name: huge, path: huge.png}\n"
        "  - {name: garbage, path: garbage.png}\n")
    errors: list[TemplateRegistryError] = []
    ts = TemplateSet.load(tmp_path / "registry.yaml", errors=errors)
    assert "ok" in ts and "huge" not in ts and "garbage" not in ts
    assert [(e.line, e.field) for e in errors] == [(4, "templates[1].path"), (5, "templates[2].path")], errors
    assert "40000×40000" in str(errors[0])


# -- item 14: accounts export ---------------------------------------------------------------------------------------

def test_export_writes_one_distinct_file_per_account(db_engine: Engine, tmp_path: Path) -> None:
    names = ["a b@x", "a_b@x", "a/b@x", "x" * 255, "Ann@x", "ann@x", "\u00e9@x", "\u00e8@x"]
    with db_engine.begin() as conn:
        from sqlalchemy import insert
        conn.execute(insert(db.Account), [{"device_account": n, "device_password": "pw"} for n in names])
    paths = accounts.export_accounts(db_engine, tmp_path / "out")
    assert len({p.name.casefold() for p in paths}) == len(names) == len(list((tmp_path / "out").iterdir()))
    back = {c.device_account for c, _ in scan_account_files([tmp_path / "out"])[0]}
    assert back == set(names)


def test_export_refuses_an_empty_folder(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    eng = db.engine(db_url)
    add_accounts(eng, 1)
    eng.dispose()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["accounts", "export", "", "--url", db_url])
    assert result.exit_code == 1 and not list(tmp_path.glob("*.xml")), result.output
    with pytest.raises(InputError, match="export folder is empty"):
        accounts.export_accounts(db.engine(db_url), "")


def test_account_credentials_render_round_trips_spaces() -> None:
    creds = AccountCredentials("n@x", " spaced ")
    assert parse_account_xml(accounts.render_account_xml(creds)) == creds


def test_a_codec_that_wraps_its_error_is_a_located_error() -> None:
    """Found by the encoding class of benchmarks/fuzz.py: idna raises a plain UnicodeError, not a decode error."""
    with pytest.raises(AccountFileError, match="not valid idna"):
        parse_account_xml(_xml(account="caf\xe9@x", declaration="idna"), "idna.xml")
