"""The control plane of one database: its commands and its claims, sharing one engine."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from emufleet import db
from emufleet.control.claims import ClaimStore
from emufleet.control.commands import CommandStore

__all__ = ["ControlPlane"]


@dataclass(frozen=True)
class ControlPlane:
    """:class:`CommandStore` and :class:`ClaimStore` over one engine (a launch process makes one and shares it
    with its bots)."""

    engine: Engine
    commands: CommandStore = field(init=False)
    claims: ClaimStore = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "commands", CommandStore(self.engine))
        object.__setattr__(self, "claims", ClaimStore(self.engine))

    @classmethod
    def connect(cls, database_url: str | None = None) -> ControlPlane:
        """A control plane on a new engine for ``database_url`` (default: the shared accounts database), which
        must exist and hold emufleet's schema (an older revision is migrated: :func:`emufleet.db.require_schema`).

        Raises:
            DatabaseError: the database does not exist or cannot be reached or migrated.
        """
        eng = db.engine(database_url)
        try:
            db.require_schema(eng)
        except BaseException:
            eng.dispose()
            raise
        return cls(eng)

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()
