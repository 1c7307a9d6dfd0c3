"""Fixtures of the vision suite: the seed's template set, read in place (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from emufleet.settings import seed_assets_dir
from emufleet.vision import CoordinateSpace, TemplateSet
from emufleet.vision.seed import build_seed_registry

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
