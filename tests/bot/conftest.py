"""Fixtures of the bot suite: the shared migrated-SQLite fixtures (accounts for the session tests)."""

from tests.db.fixtures import db_engine, db_url, make_accounts  # noqa: F401 - pytest fixtures
