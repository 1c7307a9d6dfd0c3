"""A fuzz workspace per module: copies of the shipped files and a migrated SQLite database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db.fixtures import db_engine, db_url  # noqa: F401 - pytest fixtures (the import and export cases)
from tests.fuzz.corpus import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = Workspace(tmp_path_factory.mktemp("fuzz"))
    yield ws
    ws.close()
