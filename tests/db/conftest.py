"""Fixtures of this suite: the shared migrated-SQLite fixtures."""

from tests.db.fixtures import db_engine, db_url, make_accounts  # noqa: F401 - pytest fixtures
