"""``emufleet pools convert``: the seed's legacy pools (digest §5.3) turned into the unified format, or an exact list
of what cannot be expressed.

Handles ``type: sql`` (``query.select`` + positional ``parameters``), ``type: file`` (``directory``), and unified
pools whose queries are raw ``sql:``. The SQL is read by :mod:`emufleet.pools.legacy_sql`; the legacy column
names (``status``, ``pack_count``, ``last_modified``) are mapped; ``pool_config`` becomes ``config`` (Go durations in
seconds); the seed's queue and waiting keys (``wait_for_accounts``, ``max_wait_time``, ``buffer_size``) are
explained, since waiting is now the routine's choice (:data:`emufleet.pools.definition.SEED_CONFIG_KEYS`).

A conversion is *exact* when nothing is reported in :attr:`Conversion.problems`; each problem names the file line
and the SQL fragment. The converted text is validated exactly as a pool file is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from emufleet.boundary import JsonObject, YamlValue
from emufleet.durations import parse_duration
from emufleet.errors import InputError, NothingToConvert, PoolValidationError
from emufleet.pools.definition import SEED_CONFIG_KEYS, PoolDefinition, PoolFilter
from emufleet.pools.filters import column_for
from emufleet.pools.legacy_sql import Predicate, SqlQuery, read_select
from emufleet.pools.store import render_pool
from emufleet.yamlio import MarkedDict, load_yaml

__all__ = ["Conversion", "convert_pool_file"]

LEGACY_COLUMNS: dict[str, tuple[str | None, str | None]] = {
    "status": ("pool_status", None),
    "pack_count": ("packs_opened", None),
    "last_modified": ("last_used_at", "the legacy file pools' last_modified (a file's modification time) is "
                                      "mapped to last_used_at (when a bot last leased the account)"),
    "xml_path": (None, "xml_path has no column: account files are imported into the database (watched_paths)"),
}
"""Legacy column → (unified column or ``None``, what to tell the user)."""

_SORT_METHODS = {"modifiedasc": "modified_asc", "modifieddesc": "modified_desc", "packsasc": "packs_asc",
                 "packsdesc": "packs_desc", "random": "random"}
_LEGACY_TOP = {"name", "description", "type", "version", "query", "pool_config", "gui_config", "directory"}


@dataclass
class Conversion:
    """The unified pool (:attr:`data`, :attr:`text`), what was mapped (:attr:`notes`) and what could not be
    expressed (:attr:`problems`, each ``file:line: message``). Write it only when :attr:`exact`."""

    source: Path
    kind: str
    data: JsonObject = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        return not self.problems

    @property
    def text(self) -> str:
        """The unified YAML, headed by comments saying where it came from, what was mapped and what was not."""
        head = [f"# Converted by `emufleet pools convert` from {self.source.name} (the seed's {self.kind} pool)."]
        head += [f"# note: {n}" for n in self.notes]
        head += [f"# NOT EXPRESSED: {p}" for p in self.problems]
        return "\n".join(head) + "\n" + render_pool(self.data, directory=self.source.parent)


def convert_pool_file(path: str | Path) -> Conversion:
    """Convert one legacy pool file (see the module docstring); the result is validated as a pool file.

    Raises:
        NothingToConvert: already a unified pool with nothing to convert (a :class:`PoolValidationError`).
        PoolValidationError: the file is not YAML or not a mapping.
    """
    path = Path(path)
    data = load_yaml(path, error=PoolValidationError)
    if not isinstance(data, MarkedDict):
        raise PoolValidationError("a pool definition must be a mapping", file=path, line=1, col=1)
    if "pool_name" in data:
        queries = data.get("queries") or []
        if not any(isinstance(q, dict) and "sql" in q for q in queries) and not _seed_keys(data.get("config")):
            raise NothingToConvert("already a unified pool: nothing to convert", file=path, field="pool_name")
        conv = Conversion(path, "unified, raw-SQL")
        _unified(data, conv)
    else:
        conv = Conversion(path, f"legacy `type: {data.get('type') or 'sql'}`")
        _legacy(data, conv)
    try:
        PoolDefinition.loads(render_pool(conv.data, directory=path.parent), path)
    except PoolValidationError as exc:
        conv.problems.append(f"the result is not a valid pool: {exc.message}")
    return conv


# -- the two shapes -------------------------------------------------------------------------------------------


def _legacy(data: MarkedDict, conv: Conversion) -> None:
    out = conv.data
    for key in data:
        if key not in _LEGACY_TOP:
            conv.problems.append(_at(conv, data, key, f"unknown legacy key {key!r}"))
    if not data.get("name"):
        conv.problems.append(_at(conv, data, "name", "no `name:` to become pool_name"))
    out.update({"version": 1, "pool_name": str(data.get("name") or conv.source.stem)})
    if data.get("description"):
        out["description"] = str(data["description"])
    kind = data.get("type") or ("file" if "directory" in data else "sql")
    if kind == "file":
        directory = str(data.get("directory") or "")
        if not directory:
            conv.problems.append(_at(conv, data, "type", "a file pool without `directory:`"))
        else:
            out["watched_paths"] = [directory]
            conv.notes.append(f"directory: {directory} → watched_paths (relative to this file's folder now; the "
                              "seed resolved it from its working folder)")
    elif kind == "sql":
        query = data.get("query")
        if not isinstance(query, MarkedDict) or not isinstance(query.get("select"), str):
            conv.problems.append(_at(conv, data, "query", "no `query.select` SQL"))
        else:
            params = query.get("parameters") or []
            values = [p.get("value") if isinstance(p, dict) else p for p in params]
            read = read_select(query["select"], values)
            out["queries"] = _queries(read, "legacy query", conv, query, "select")
    else:
        conv.problems.append(_at(conv, data, "type", f"unknown legacy pool type {kind!r}"))
    if "gui_config" in data:
        conv.notes.append("gui_config dropped: it echoed the query for the seed's editor; the structured queries "
                          "are that editor's format now")
    config = data.get("pool_config")
    if config is not None:
        out["config"] = _config(config, conv, out)


def _unified(data: MarkedDict, conv: Conversion) -> None:
    out = conv.data
    for key, value in data.items():
        if key == "queries":
            queries: list[JsonObject] = []
            for query in value or []:
                if isinstance(query, MarkedDict) and "sql" in query:
                    name = str(query.get("name") or "query")
                    queries += _queries(read_select(str(query["sql"]), []), name, conv, query, "sql",
                                        limit=query.get("limit"))
                else:
                    queries.append(query)
            out["queries"] = queries
        elif key == "config":
            out["config"] = _config(value, conv, out)
        else:
            out[key] = value


# -- parts ----------------------------------------------------------------------------------------------------


def _queries(read: SqlQuery, name: str, conv: Conversion, holder: MarkedDict, key: str, *,
             limit: YamlValue = None) -> list[JsonObject]:
    sql = str(holder[key])
    for problem in read.problems:
        where = f": {problem.fragment}" if problem.fragment else ""
        conv.problems.append(_sql_at(conv, holder, key, sql, problem.offset, f"{problem.message}{where}"))
    sort = []
    for column, direction in read.sort:
        mapped = _map_column(column, conv, holder, key, sql, None)
        if mapped:
            sort.append({"column": mapped, "direction": direction})
    groups = read.groups
    queries = []
    for i, group in enumerate(groups):
        filters = [f for p in group if (f := _filter(p, conv, holder, key, sql)) is not None]
        if not filters and not group and not read.problems:
            filters = [{"column": "id", "comparator": ">", "value": 0}]
            conv.notes.append("a SELECT without WHERE becomes the filter `id > 0` (every account): a query needs "
                              "at least one filter")
        entry: JsonObject = {"name": name if len(groups) == 1 else f"{name} ({i + 1} of {len(groups)})",
                                 "filters": filters}
        if sort:
            entry["sort"] = sort
        if read.limit is not None or limit:
            entry["limit"] = read.limit if read.limit is not None else limit
        queries.append(entry)
    if len(groups) > 1:
        conv.notes.append(f"the OR in the WHERE clause became {len(groups)} queries, which the pool unions")
        if read.limit:
            conv.problems.append(_at(conv, holder, key, f"LIMIT {read.limit} over an OR: each of the {len(groups)} "
                                                        f"queries takes up to {read.limit}, so the pool may hold "
                                                        f"{read.limit * len(groups)} accounts, not {read.limit}"))
        if sort:
            conv.notes.append("ORDER BY sorts each query; the union keeps query order (config.sort_method orders "
                              "checkouts)")
    return queries


def _filter(p: Predicate, conv: Conversion, holder: MarkedDict, key: str, sql: str) -> JsonObject | None:
    column = _map_column(p.column, conv, holder, key, sql, p.offset)
    if column is None:
        return None
    entry: JsonObject = {"column": column, "comparator": p.comparator}
    if p.value is not None:
        entry["value"] = p.value
    try:
        PoolFilter(**entry)
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        conv.problems.append(_sql_at(conv, holder, key, sql, p.offset, f"{p.fragment}: {reason}"))
        return None
    return entry


def _map_column(column: str, conv: Conversion, holder: MarkedDict, key: str, sql: str,
                offset: int | None) -> str | None:
    mapped, why = LEGACY_COLUMNS.get(column, (column, None))
    if why and why not in conv.notes and mapped:
        conv.notes.append(why)
    if mapped is None:
        conv.problems.append(_sql_at(conv, holder, key, sql, offset or 0, why or column))
        return None
    try:
        return column_for(mapped)[0]
    except ValueError as exc:
        conv.problems.append(_sql_at(conv, holder, key, sql, offset or 0, str(exc)))
        return None


def _config(config: YamlValue, conv: Conversion, out: JsonObject) -> JsonObject:
    if not isinstance(config, MarkedDict):
        conv.problems.append("pool_config is not a mapping")
        return {}
    result: JsonObject = {}
    packs: list[JsonObject] = []
    for key, value in config.items():
        if key in ("retry_failed", "max_failures", "lease_ttl"):
            result[key] = value
        elif key == "refresh_interval":
            try:
                result[key] = parse_duration(value, "s", allow_zero=True)
            except InputError as exc:
                conv.problems.append(_at(conv, config, key, f"refresh_interval: {exc}"))
        elif key == "sort_method":
            method = _SORT_METHODS.get(str(value).replace("_", "").lower(), str(value))
            result[key] = method
        elif key in ("min_packs", "max_packs"):
            if value:
                packs.append({"column": "packs_opened", "comparator": ">=" if key == "min_packs" else "<=",
                              "value": value})
        elif key in SEED_CONFIG_KEYS:
            shown = str(value).lower() if isinstance(value, bool) else value
            conv.notes.append(f"{key}: {shown} — {SEED_CONFIG_KEYS[key]}")
        else:
            conv.problems.append(_at(conv, config, key, f"unknown pool_config key {key!r}"))
    if packs:
        if out.get("queries"):
            for query in out["queries"]:
                query["filters"] += [f for f in packs if f not in query["filters"]]
            conv.notes.append("min_packs/max_packs became packs_opened filters on every query")
        else:
            conv.problems.append(_at(conv, config, "min_packs" if "min_packs" in config else "max_packs",
                                     "min_packs/max_packs cannot filter the accounts of watched_paths"))
    return result


def _seed_keys(config: YamlValue) -> bool:
    return isinstance(config, dict) and any(k in SEED_CONFIG_KEYS or k in ("min_packs", "max_packs")
                                            for k in config)


def _at(conv: Conversion, holder: YamlValue, key: YamlValue, message: str) -> str:
    line = holder.key_pos.get(key, holder.pos)[0] if isinstance(holder, MarkedDict) else None
    return f"{conv.source}:{line}: {message}" if line else f"{conv.source}: {message}"


def _sql_at(conv: Conversion, holder: MarkedDict, key: str, sql: str, offset: int, message: str) -> str:
    """Locate ``offset`` of the SQL held in ``holder[key]`` on its line of the file (block scalars included)."""
    line, _ = holder.value_pos.get(key, holder.key_pos.get(key, holder.pos))
    try:
        raw = conv.source.read_text(encoding="utf-8").splitlines()[line - 1]
        block = raw.rstrip().endswith(("|", ">", "|-", ">-", "|+", ">+"))
    except (OSError, IndexError):
        block = False
    return f"{conv.source}:{line + block + sql[:offset].count(chr(10))}: {message}"
