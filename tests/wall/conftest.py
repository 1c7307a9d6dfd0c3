"""Fixtures of the wall suite: the shared migrated-database fixtures (SQLite, and PostgreSQL when configured)."""

from tests.db.fixtures import db_engine, db_url  # noqa: F401 - pytest fixtures
