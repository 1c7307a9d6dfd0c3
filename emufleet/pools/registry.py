"""Finding pool definitions: ``pools/*.yaml`` under the project root (digest §5.5 ``PoolManager``).

Unlike the seed, which keyed pools by ``pool_name`` and let the legacy files collide under ``""`` (§5.1), every file
is validated on discovery and reported with its error; a duplicate ``pool_name`` is an error naming both files.
Definitions are plain values: each launch builds its own :class:`~emufleet.pools.pool.Pool` from one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emufleet import settings
from emufleet.datafiles import YAML_SUFFIXES, list_data_files
from emufleet.errors import PoolValidationError
from emufleet.pools.definition import PoolDefinition

__all__ = ["PoolEntry", "discover", "find_pool"]


@dataclass(frozen=True, slots=True)
class PoolEntry:
    """A pool file: its definition, or the error that kept it from loading."""

    path: Path
    definition: PoolDefinition | None
    error: PoolValidationError | None = None


def discover(directory: str | Path | None = None) -> list[PoolEntry]:
    """Every ``*.yaml``/``*.yml`` in ``directory`` (default ``<root>/pools``; ``*.example`` files are ignored)."""
    directory = Path(directory) if directory else settings.data_dir("pools")
    entries: list[PoolEntry] = []
    seen: dict[str, Path] = {}
    files = list_data_files(directory, YAML_SUFFIXES, error=PoolValidationError)
    for path in files:
        try:
            definition = PoolDefinition.load(path)
        except PoolValidationError as exc:
            entries.append(PoolEntry(path, None, exc))
            continue
        if definition.name in seen:
            err = PoolValidationError(f"duplicate pool_name {definition.name!r} (also in {seen[definition.name]})",
                                      file=path, field="pool_name")
            entries.append(PoolEntry(path, None, err))
            continue
        seen[definition.name] = path
        entries.append(PoolEntry(path, definition))
    return entries


def find_pool(name: str, directory: str | Path | None = None) -> PoolDefinition:
    """A pool by ``pool_name``, file stem, or path to a YAML file.

    Raises:
        PoolValidationError: the file is invalid, or no pool has that name (the message lists the known ones).
    """
    path = Path(name)
    if path.suffix in (".yaml", ".yml", ".example") and path.is_file():
        return PoolDefinition.load(path)
    entries = discover(directory)
    for entry in entries:
        label = entry.definition.name if entry.definition else None
        if name in (label, entry.path.stem, entry.path.name):
            if entry.error is not None:
                raise entry.error
            assert entry.definition is not None
            return entry.definition
    known = ", ".join(e.definition.name for e in entries if e.definition) or "none"
    raise PoolValidationError(f"no pool named {name!r} (known: {known})", field="pool")
