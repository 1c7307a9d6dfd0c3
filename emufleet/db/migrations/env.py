"""Alembic environment, driven programmatically by :func:`emufleet.db.upgrade` (no alembic.ini needed).

The caller passes an open connection in ``config.attributes["connection"]``; running ``alembic`` by hand also
works with ``-x url=…`` (or ``EMUFLEET_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from emufleet.db.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs go through table copies
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from emufleet.db.engine import engine

    eng = engine(context.get_x_argument(as_dictionary=True).get("url"))
    try:
        with eng.connect() as conn:
            _run(conn)
    finally:
        eng.dispose()
