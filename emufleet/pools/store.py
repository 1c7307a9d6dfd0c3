"""Creating, updating and deleting pool definition files (digest §5.5 ``PoolManager`` CRUD; seed ``001_…``
``CreatePool``/``UpdatePool``/``DeletePool``).

Usage (the CLI's ``emufleet pools save|delete`` and the console call these)::

    from emufleet.pools import create_pool, update_pool, delete_pool
    d = create_pool({"pool_name": "Premium", "queries": [...], "config": {"retry_failed": True}})
    d = update_pool("Premium", {**new_fields})     # a new pool_name renames the file (the old one is removed)
    delete_pool("Premium")                          # the file; with engine=…, the stored membership too

A source is a mapping (what a web form or ``yaml.safe_load`` gives), YAML text, or a :class:`PoolDefinition`.
Whatever the source, the YAML text about to be written is validated by :meth:`PoolDefinition.loads` — the very
check a file gets when it is loaded — and only then written, atomically, so an invalid definition never reaches
``pools/`` and a crash never leaves half a file. File names are the seed's: ``pool_name`` lower-cased, anything
but ``[a-z0-9_-]`` turned into ``_``, plus ``.yaml``; an updated pool keeps its file unless it is renamed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path, PureWindowsPath

import yaml
from sqlalchemy import Engine, delete, func, select

from emufleet import settings
from emufleet.boundary import JsonObject, YamlValue
from emufleet.db import Account, PoolMember, PoolRecord, utcnow
from emufleet.errors import PoolError, PoolValidationError
from emufleet.files import write_atomic
from emufleet.paths import data_path
from emufleet.pools.definition import PoolDefinition
from emufleet.pools.filters import RelativeTime
from emufleet.pools.leases import lease_held
from emufleet.pools.registry import PoolEntry, discover
from emufleet.yamlio import loads_yaml

__all__ = ["PoolSource", "create_pool", "definition_data", "delete_pool", "pool_file_name", "render_pool",
           "save_pool", "update_pool"]

PoolSource = PoolDefinition | Mapping[str, YamlValue] | str
"""What a pool can be saved from: a definition, a mapping of its YAML keys, or YAML text."""


def pool_file_name(pool_name: str) -> str:
    """The file a new pool is saved to: ``"Premium Farmers"`` → ``premium_farmers.yaml`` (seed §5.2).

    A name beyond ASCII, or longer than 80 characters, also gets 8 hex digits of its SHA-256 (``"Équipe"`` →
    ``quipe-…yaml``): two non-ASCII names never share a file (``"Équipe"`` and ``"Èquipe"``), and no name makes a
    file name too long for the file system. Two ASCII names that sanitise alike are refused when saved.
    """
    base = re.sub(r"[^a-z0-9_-]+", "_", pool_name.lower()).strip("_")[:80].rstrip("_") or "pool"
    if pool_name.isascii() and len(pool_name) <= 80:
        return base + ".yaml"
    return f"{base}-{hashlib.sha256(pool_name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}.yaml"


def create_pool(source: PoolSource, *, directory: str | Path | None = None) -> PoolDefinition:
    """Validate ``source`` and write it as a new pool file in ``directory`` (default ``<root>/pools``).

    Returns the definition loaded back from its new file.

    Raises:
        PoolValidationError: invalid definition (``file:line:col: field: message``), or its ``pool_name`` (or
            file name) is already taken.
    """
    folder = _directory(directory)
    return _write(_data(source, folder), None, folder)


def update_pool(name: str, source: PoolSource, *, directory: str | Path | None = None) -> PoolDefinition:
    """Replace the pool ``name`` (pool_name, file stem or file name; a broken file can be replaced too).

    A different ``pool_name`` in ``source`` renames the pool: the new file is written first, then the old one is
    removed. Returns the definition loaded back from its file.

    Raises:
        PoolValidationError: no such pool, invalid definition, or the new name belongs to another pool.
    """
    folder = _directory(directory)
    return _write(_data(source, folder), _entry(name, folder), folder)


def save_pool(source: PoolSource, *, directory: str | Path | None = None, overwrite: bool = False) -> PoolDefinition:
    """Create the pool, or (``overwrite``) update the existing pool of the same ``pool_name``.

    Raises:
        PoolValidationError: as :func:`create_pool` / :func:`update_pool`.
    """
    folder = _directory(directory)
    data = _data(source, folder)
    name = data.get("pool_name")
    existing = next((e for e in discover(folder) if e.definition is not None and e.definition.name == name), None)
    if existing is not None and overwrite:
        return _write(data, existing, folder)
    return _write(data, None, folder)


def delete_pool(name: str, *, directory: str | Path | None = None, engine: Engine | None = None,
                force: bool = False) -> Path:
    """Remove the pool file ``name``; returns its path.

    With ``engine``, the pool's stored membership (``pools``/``pool_members`` rows) goes too, and the delete is
    refused while an account of the pool is leased (a bot is using it) unless ``force``. Result history
    (``account_results``) is kept.

    Raises:
        PoolValidationError: no such pool.
        PoolError: accounts of the pool are leased right now (and not ``force``).
    """
    entry = _entry(name, _directory(directory))
    pool_name = entry.definition.name if entry.definition else None
    if engine is not None and pool_name is not None:
        with engine.begin() as conn:
            leased = conn.scalar(
                select(func.count()).select_from(Account).join(PoolMember, PoolMember.account_id == Account.id)
                .where(PoolMember.pool_name == pool_name, lease_held(utcnow())))
            if leased and not force:
                raise PoolError(f"{leased} account(s) of the pool are leased by running bots; stop them first "
                                "(or force)", pool=pool_name)
            conn.execute(delete(PoolMember).where(PoolMember.pool_name == pool_name))
            conn.execute(delete(PoolRecord).where(PoolRecord.name == pool_name))
    entry.path.unlink()
    return entry.path


def render_pool(source: PoolSource, *, directory: str | Path | None = None) -> str:
    """The YAML text that saving ``source`` into ``directory`` would write (not validated)."""
    return _render(_data(source, _directory(directory)))


def definition_data(definition: PoolDefinition, *, relative_to: Path | None = None) -> JsonObject:
    """A definition as plain YAML data (defaults left out; ``version`` and ``pool_name`` first).

    Typed filter values are written back in the form the YAML accepts (relative times as ``now-7d``, lists for
    ``IN``). With ``relative_to``, relative ``watched_paths`` are re-expressed from that folder, so they keep
    pointing at the same folders once the file moves there.
    """
    data = definition.model_dump(mode="python", exclude_defaults=True)
    data = {"version": 1, "pool_name": definition.pool_name, **data}
    for query, model in zip(data.get("queries", []), definition.queries, strict=True):
        for flt, typed in zip(query["filters"], model.filters, strict=True):
            if "value" in flt:  # model_dump turned typed values (relative times) into dicts: use the originals
                flt["value"] = _plain(typed.value)
    if relative_to is not None and definition.file is not None and definition.watched_paths:
        data["watched_paths"] = [_rebase(raw, definition.file.parent, relative_to) for raw in definition.watched_paths]
    return data


# -- internals ------------------------------------------------------------------------------------------------


def _directory(directory: str | Path | None) -> Path:
    return Path(directory) if directory is not None else settings.data_dir("pools")


def _entry(name: str, folder: Path) -> PoolEntry:
    entries = discover(folder)
    for entry in entries:
        if name in ((entry.definition.name if entry.definition else None), entry.path.stem, entry.path.name):
            return entry
    known = ", ".join(e.definition.name for e in entries if e.definition) or "none"
    raise PoolValidationError(f"no pool named {name!r} in {folder} (known: {known})", field="pool")


def _data(source: PoolSource, folder: Path) -> JsonObject:
    if isinstance(source, PoolDefinition):
        return definition_data(source, relative_to=folder.resolve())
    if isinstance(source, str):
        source = loads_yaml(source, "<pool>", error=PoolValidationError)
        if not isinstance(source, Mapping):
            raise PoolValidationError("a pool definition must be a mapping", file="<pool>", line=1, col=1)
    if not isinstance(source, Mapping):
        raise PoolValidationError(f"a pool definition must be a mapping, not {type(source).__name__}")
    plain: JsonObject = _plain(source)  # a mapping stays one
    return plain


def _write(data: JsonObject, replacing: PoolEntry | None, folder: Path) -> PoolDefinition:
    name = data.get("pool_name")
    text = _render(data)
    if replacing is not None and replacing.definition is not None and replacing.definition.name == name:
        target = replacing.path  # same pool: keep its file name
    else:
        target = folder / pool_file_name(str(name)) if isinstance(name, str) and name else folder / "pool.yaml"
    PoolDefinition.loads(text, target)  # the check a file gets when loaded: the same errors, the same positions
    for entry in discover(folder):
        if replacing is not None and entry.path == replacing.path:
            continue
        if entry.definition is not None and entry.definition.name == name:
            raise PoolValidationError(f"a pool named {name!r} already exists ({entry.path.name}); update it "
                                      "instead", file=target, field="pool_name")
        if entry.path.name == target.name:
            raise PoolValidationError(f"{target.name} already exists in {folder} and holds another pool",
                                      file=target, field="pool_name")
    try:
        write_atomic(target, text, exclusive=replacing is None or target != replacing.path)
    except FileExistsError:
        raise PoolValidationError(f"{target.name} was created meanwhile by someone else", file=target,
                                  field="pool_name") from None
    if replacing is not None and replacing.path != target:
        replacing.path.unlink(missing_ok=True)  # a rename: the seed's UpdatePool deletes the old file
    return PoolDefinition.load(target)


def _render(data: Mapping[str, YamlValue]) -> str:
    return yaml.safe_dump(dict(data), sort_keys=False, allow_unicode=True, default_flow_style=None, width=118)


def _plain(value: YamlValue) -> YamlValue:
    """Plain YAML-dumpable data: marked dicts/lists to dict/list, typed filter values back to their text form."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, RelativeTime):
        return _relative(value.offset)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _relative(offset: timedelta) -> str:
    seconds = offset.total_seconds()
    if not seconds:
        return "now"
    sign, seconds = ("-" if seconds < 0 else "+"), abs(seconds)
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"now{sign}{int(seconds // size)}{unit}"
    return f"now{sign}{seconds:g}s"


def _relative_text(raw: str) -> bool:
    """Whether a watched path as written is relative (``\\`` or ``/`` separators; no drive, root or ``~``)."""
    return not (raw.startswith(("~", "/", "\\")) or PureWindowsPath(raw).drive)


def _rebase(raw: str, origin: Path, folder: Path) -> str:
    """``raw`` (relative to ``origin``) re-expressed relative to ``folder``; absolute paths are kept as written."""
    if not _relative_text(raw):  # either platform's form: kept as the user wrote it
        return raw
    resolved = data_path(raw, origin).resolve()
    try:
        return os.path.relpath(resolved, folder)
    except ValueError:  # another drive (Windows): no relative path exists
        return str(resolved)
