"""Fixtures of the bot suite: the shared migrated-SQLite fixtures (accounts for the session tests), the shipped
template set, and registries of test routines."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet
from tests.db.fixtures import db_engine, db_url, make_accounts  # noqa: F401 - pytest fixtures

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def templates() -> TemplateSet:
    return TemplateSet.load(REPO / "templates" / "registry.yaml")


@pytest.fixture
def routines(tmp_path: Path, templates: TemplateSet) -> Callable[..., RoutineRegistry]:
    """``routines({"key": yaml, …})``: a registry of those routines plus a quick recovery routine."""

    def make(files: dict[str, str]) -> RoutineRegistry:
        files = {"recovery/quick": """
            version: 1
            routine_name: quick recovery
            steps:
              - {action: Sleep, duration: 50ms}
            """, **files}
        for key, text in files.items():
            path = tmp_path / "routines" / f"{key}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text), encoding="utf-8")
        registry = RoutineRegistry.load(tmp_path / "routines", templates)
        assert registry.invalid() == {}
        return registry

    return make


