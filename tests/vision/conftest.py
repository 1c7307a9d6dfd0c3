"""Fixtures of the vision suite: the seed's template set and the real screens, read in place (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emufleet.settings import real_screens_dir, seed_assets_dir
from emufleet.vision import CoordinateSpace, TemplateSet
from emufleet.vision.seed import build_seed_registry
from emufleet.vision.text_boxes import BoxRow, read_box_rows

from .real_screens import DevSet, load_dev_set

SPACE = CoordinateSpace()


@pytest.fixture(scope="session")
def seed_templates_dir() -> Path:
    """``…/seed-assets/templates`` (third-party; never copied into the repo)."""
    path = seed_assets_dir() / "templates"
    if not (path / "images" / "ui").is_dir():
        pytest.skip(f"seed assets not found at {path} (set EMUFLEET_SEED_ASSETS)")
    return path


@pytest.fixture(scope="session")
def seed_set(seed_templates_dir: Path) -> TemplateSet:
    """All 236 seed images, regions from the seed registry and legacy_regions.csv."""
    return build_seed_registry(seed_templates_dir)


def real_screens(needs: str) -> Path:
    """The real screens of ``../shared/real-screens`` (third-party; read in place), which must hold ``needs``. CI
    requires them, as it requires the seed assets (``EMUFLEET_REQUIRE_SEED_ASSETS=1``): absent there is a failure,
    elsewhere a skip."""
    path = real_screens_dir()
    if not (path / needs).is_file():
        reason = f"real screens not found at {path} (set EMUFLEET_REAL_SCREENS)"
        if os.environ.get("EMUFLEET_REQUIRE_SEED_ASSETS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def dev_set() -> DevSet:
    """The needles, pairs and negatives of the real screens."""
    return load_dev_set(real_screens("pairs.tsv"))


@pytest.fixture(scope="session")
def text_lines() -> tuple[Path, list[BoxRow]]:
    """The real screens' folder and its text lines read by eye (``text.tsv``)."""
    path = real_screens("text.tsv")
    return path, read_box_rows(path / "text.tsv")[1]
