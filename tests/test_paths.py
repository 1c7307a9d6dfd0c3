"""Paths written in data files in Windows forms (``emufleet.paths``), read on this (Linux) host: the pure parsing
in both platforms' forms, and real pool, template-registry and scenario files written with backslashes."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest

from emufleet.errors import InputError, TemplateRegistryError
from emufleet.paths import data_path, parse_data_path
from emufleet.pools import PoolDefinition
from emufleet.settings import project_root
from emufleet.vision import TemplateSet

WIN_BASE = PureWindowsPath(r"D:\fleet\pools")


@pytest.mark.parametrize(("text", "expected"), [
    (r"..\accounts", r"D:\fleet\pools\..\accounts"),
    ("../accounts", r"D:\fleet\pools\..\accounts"),
    (r"C:\Users\me\accounts", r"C:\Users\me\accounts"),
    ("C:/Users/me/accounts", r"C:\Users\me\accounts"),
    (r"\\nas\share\accounts", r"\\nas\share\accounts"),
])
def test_windows_forms_as_windows_reads_them(text: str, expected: str) -> None:
    assert parse_data_path(text, WIN_BASE, windows=True) == PureWindowsPath(expected)


def test_backslashes_are_separators_on_posix() -> None:
    assert parse_data_path(r"..\accounts\fresh", PurePosixPath("/srv/pools"), windows=False) == \
        PurePosixPath("/srv/pools/../accounts/fresh")


@pytest.mark.parametrize("text", [r"C:\Users\me\accounts", "c:/x", r"\\nas\share\x"])
def test_a_drive_path_on_posix_is_an_input_error_naming_it(text: str) -> None:
    with pytest.raises(InputError, match="is a Windows path"):
        parse_data_path(text, PurePosixPath("/srv"), windows=False)


def test_data_path_resolves_a_backslash_path_to_the_real_folder(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert data_path(r"a\b", tmp_path).is_dir()
    assert data_path(r"..\a", tmp_path / "a").resolve() == (tmp_path / "a").resolve()


def test_pool_watched_path_with_backslashes_finds_the_accounts(tmp_path: Path) -> None:
    pools = tmp_path / "pools"
    pools.mkdir()
    shutil.copytree(project_root() / "accounts", tmp_path / "accounts")
    file = pools / "win.yaml"
    file.write_text("version: 1\npool_name: win\nwatched_paths: ['..\\accounts']\n", encoding="utf-8")
    (folder,) = PoolDefinition.load(file).watched_dirs()
    assert folder == (tmp_path / "accounts").resolve()
    assert len(list(folder.glob("demo_*.xml"))) == 12


def test_a_pool_written_for_a_windows_host_loads_here_and_skips_its_drive_path(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The file stays valid (it is that host's); here its drive path names nothing and is skipped like a folder
    that does not exist yet, while its relative path is read."""
    (tmp_path / "accounts").mkdir()
    file = tmp_path / "pools" / "drive.yaml"
    file.parent.mkdir()
    file.write_text("version: 1\npool_name: d\nwatched_paths:\n  - C:\\Users\\me\\accounts\n  - ..\\accounts\n",
                    encoding="utf-8")
    definition = PoolDefinition.load(file)
    assert definition.watched_paths == ["C:\\Users\\me\\accounts", "..\\accounts"]
    assert definition.watched_dirs() == [(tmp_path / "accounts").resolve()]
    assert "is a Windows path" in caplog.text and "drive.yaml" in caplog.text


def test_template_registry_written_on_windows_loads(tmp_path: Path) -> None:
    shipped = project_root() / "templates"
    (tmp_path / "set" / "ui").mkdir(parents=True)
    shutil.copy(shipped / "images" / "OK.png", tmp_path / "set" / "ui" / "OK.png")
    registry = tmp_path / "registry" / "win.yaml"
    registry.parent.mkdir()
    registry.write_text("version: 1\nimages: ..\\set\ntemplates:\n"
                        "  - {name: OK, path: 'ui\\OK.png', region: {x1: 98, y1: 332, x2: 179, y2: 373}}\n",
                        encoding="utf-8")
    templates = TemplateSet.load(registry)
    assert templates.get("OK").path.resolve() == tmp_path / "set" / "ui" / "OK.png"


def test_template_registry_with_a_drive_folder_is_a_located_error(tmp_path: Path) -> None:
    registry = tmp_path / "win.yaml"
    registry.write_text("version: 1\nimages: 'C:\\fleet\\images'\ntemplates: []\n", encoding="utf-8")
    with pytest.raises(TemplateRegistryError, match=r"win\.yaml:2:.*images.*Windows path"):
        TemplateSet.load(registry)
