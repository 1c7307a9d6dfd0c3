"""The unified pool YAML (digest §5.2) as pydantic models, loaded with located errors.

Example (``pools/demo.yaml``)::

    version: 1                     # optional
    pool_name: Demo farmers
    queries:
      - name: fresh
        filters:
          - {column: pool_status, comparator: IN, value: [available]}
          - {column: packs_opened, comparator: "<", value: 10}
        sort: [{column: packs_opened, direction: desc}]
        limit: 100                 # 0 = no limit
    include: [demo_01@emufleet.invalid]
    exclude: [demo_12@emufleet.invalid]
    watched_paths: [../accounts]   # relative to this file
    config: {sort_method: packs_desc, retry_failed: true, max_failures: 3, refresh_interval: 300, lease_ttl: 300}

The seed's legacy formats (``type: sql`` / ``type: file``, digest §5.3) and raw ``sql:`` queries are rejected with
an error that says how to convert them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator

from emufleet.boundary import YamlValue
from emufleet.durations import MAX_DURATION_S
from emufleet.errors import InputError, PoolValidationError
from emufleet.paths import data_path
from emufleet.pools.filters import SortMethod, column_for, normalise_comparator, parse_value
from emufleet.validation import validate
from emufleet.yamlio import MarkedDict, MarkedList, load_yaml, loads_yaml

__all__ = ["SEED_CONFIG_KEYS", "PoolConfig", "PoolDefinition", "PoolFilter", "PoolQuery", "PoolSort"]

_CONVERT = ("`emufleet pools convert FILE` writes the unified equivalent (or lists exactly what it cannot "
            "express); by hand, see docs/pools.md 'Converting legacy pools': write `pool_name:`, express the WHERE "
            "clause as `queries: [{name, filters: [{column, comparator, value}]}]`, ORDER BY as `sort:`, LIMIT as "
            "`limit:`, ")

SEED_CONFIG_KEYS = {
    "wait_for_accounts": "waiting is the routine's choice now: `InjectNextAccount` with `on_no_accounts: wait` "
                         "(keep waiting) or `stop` (fail after its `timeout`)",
    "max_wait_time": "the wait is bounded by the routine's `InjectNextAccount` `timeout:` (e.g. `timeout: 5m`)",
    "buffer_size": "not needed: there is no queue of available accounts any more (every member is leasable; the "
                   "seed's channel capped it at 100)",
    "auto_refresh": "the pool refreshes on first use and every `refresh_interval` seconds while in use",
}
"""The seed's ``pool_config`` keys that have no place in ``config:``, and where their meaning went (digest §5.3)."""


log = logging.getLogger(__name__)

class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolFilter(_Strict):
    """``{column, comparator, value, enabled}``; ``value`` is typed by the column (see :mod:`.filters`)."""

    column: str
    comparator: str
    value: YamlValue = Field(None, validate_default=True)
    enabled: bool = True

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        return column_for(v)[0]

    @field_validator("comparator")
    @classmethod
    def _comparator(cls, v: str) -> str:
        return normalise_comparator(v)

    @field_validator("value")
    @classmethod
    def _value(cls, v: YamlValue, info: ValidationInfo) -> YamlValue:
        if "column" not in info.data or "comparator" not in info.data:
            return v  # the column or comparator error is already reported
        return parse_value(info.data["column"], info.data["comparator"], v)


class PoolSort(_Strict):
    """``{column, direction: asc|desc (any case), enabled}``."""

    column: str
    direction: str = "asc"
    enabled: bool = True

    @field_validator("column")
    @classmethod
    def _column(cls, v: str) -> str:
        return column_for(v)[0]

    @field_validator("direction")
    @classmethod
    def _direction(cls, v: str) -> str:
        if not isinstance(v, str) or v.lower() not in ("asc", "desc"):
            raise ValueError(f"direction must be asc or desc, got {v!r}")
        return v.lower()


class PoolQuery(_Strict):
    """One query: enabled filters AND-ed, then sorted, then limited (``0`` = no limit)."""

    name: str = Field(min_length=1)
    filters: list[PoolFilter] = Field(min_length=1)
    sort: list[PoolSort] = Field(default_factory=list)
    limit: int = Field(0, ge=0, le=10**9)


class PoolConfig(_Strict):
    """Pool behaviour. ``refresh_interval`` and ``lease_ttl`` are seconds (``refresh_interval: 0`` = manual), finite
    and at most 30 days (:data:`~emufleet.durations.MAX_DURATION_S`)."""

    sort_method: SortMethod = ""
    retry_failed: bool = False
    max_failures: int = Field(3, ge=0, le=10**6)
    refresh_interval: float = Field(0, ge=0, le=MAX_DURATION_S, allow_inf_nan=False)
    lease_ttl: float = Field(300, gt=0, le=MAX_DURATION_S, allow_inf_nan=False)


class PoolDefinition(_Strict):
    """A validated pool definition. Load files with :meth:`load`; ``file`` is where it came from."""

    version: Literal[1] = 1
    pool_name: str = Field(min_length=1, max_length=200)  # the database's pool columns hold 255
    description: str = ""
    queries: list[PoolQuery] = Field(default_factory=list)
    include: list[str] = Field(default_factory=list, max_length=10_000)  # bound parameters of one statement
    exclude: list[str] = Field(default_factory=list, max_length=10_000)
    watched_paths: list[str] = Field(default_factory=list)  # Windows forms too (emufleet.paths)
    config: PoolConfig = Field(default_factory=PoolConfig)

    _file: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _has_source(self) -> PoolDefinition:
        if not (self.queries or self.include or self.watched_paths):
            raise ValueError("a pool needs at least one source: queries, include or watched_paths")
        return self

    @property
    def name(self) -> str:
        """The pool's registry key (``pool_name``)."""
        return self.pool_name

    @property
    def file(self) -> Path | None:
        """The YAML file this definition was loaded from, if any."""
        return self._file

    def watched_dirs(self) -> list[Path]:
        """``watched_paths`` resolved against the definition file's folder (the cwd for in-memory definitions).

        Windows forms are read too (:mod:`emufleet.paths`); a drive path on another platform names no folder here
        and, like a folder that does not exist yet, is logged and skipped (the file stays valid for its host).
        """
        base = self._file.parent if self._file else Path.cwd()
        out = []
        for text in self.watched_paths:
            try:
                out.append(data_path(text, base).resolve())
            except InputError as exc:
                log.warning("pool %r (%s): watched path skipped: %s", self.pool_name, self._file, exc)
        return out

    @classmethod
    def load(cls, path: str | Path) -> PoolDefinition:
        """Read and validate a pool YAML file.

        Raises:
            PoolValidationError: ``file:line:col: field: message`` for bad YAML, unknown keys or columns, bad
                comparators or values, and for the legacy formats (with how to convert them).
        """
        path = Path(path)
        return cls.from_data(load_yaml(path, error=PoolValidationError), path)

    @classmethod
    def loads(cls, text: str, file: str | Path = "<string>") -> PoolDefinition:
        """Validate pool YAML text; see :meth:`load`. Relative watched paths resolve against ``file``'s folder."""
        return cls.from_data(loads_yaml(text, file, error=PoolValidationError), Path(file))

    @classmethod
    def from_data(cls, data: YamlValue, file: Path) -> PoolDefinition:
        """Validate already parsed (marked) YAML data."""
        _reject_legacy(data, file)
        definition = validate(cls, data, file, error=PoolValidationError)
        definition._file = file.resolve() if file.exists() else None
        return definition


def _reject_legacy(data: YamlValue, file: Path) -> None:
    """Raise a conversion error for the seed's ``type: sql``/``type: file`` pools and raw-SQL queries (§5.3)."""
    if not isinstance(data, MarkedDict):
        raise PoolValidationError("a pool definition must be a mapping", file=file, line=1, col=1)
    kind = data.get("type")
    if kind in ("sql", "file") or ("pool_name" not in data and ("query" in data or "directory" in data)):
        line, col = data.key_pos.get("type", data.pos)
        if kind == "file" or "directory" in data:
            how = f"list its folder under `watched_paths: [{data.get('directory', './accounts')}]`"
        else:
            how = _CONVERT + "and `pool_config:` as `config:`; raw SQL is no longer accepted"
        raise PoolValidationError(f"legacy `type: {kind or 'sql'}` pool format is not supported; convert it to the "
                                  f"unified format: {how}", file=file, line=line, col=col, field="type")
    config = data.get("config")
    if "pool_config" in data:
        line, col = data.key_pos["pool_config"]
        raise PoolValidationError("`pool_config:` is the legacy name: write `config:` (durations in seconds)",
                                  file=file, line=line, col=col, field="pool_config")
    if isinstance(config, MarkedDict):
        for key in config:
            if key in SEED_CONFIG_KEYS or key in ("min_packs", "max_packs"):
                line, col = config.key_pos[key]
                why = SEED_CONFIG_KEYS.get(key) or "write it as a `packs_opened` filter of each query"
                raise PoolValidationError(f"the seed's {key!r} is not a pool setting any more: {why}",
                                          file=file, line=line, col=col, field=f"config.{key}")
    queries = data.get("queries")
    if isinstance(queries, MarkedList):
        for i, query in enumerate(queries):
            if isinstance(query, MarkedDict) and "sql" in query:
                line, col = query.key_pos["sql"]
                raise PoolValidationError(
                    "raw SQL queries are not supported (an injection surface, digest §5.2); convert it to "
                    "structured filters: " + _CONVERT + "each column from the allowed list",
                    file=file, line=line, col=col, field=f"queries[{i}].sql")
