"""Fixtures of this suite: the shared migrated-database fixtures (SQLite, and PostgreSQL when configured)."""

from tests.db.fixtures import db_engine, db_url, make_accounts  # noqa: F401 - pytest fixtures
