"""The group and pool editors' forms → definition data, validated by the definitions' own models.

A form only carries the fields it shows; the rest of the definition being edited (``backend_options``, recovery
and health settings, …) is kept from ``base``, so the form never drops what it does not know. The YAML tab edits
the whole definition instead (:func:`from_yaml`).
"""

from __future__ import annotations

from pathlib import Path

from console.forms import nest, parse_lines, parse_list, validate_all
from emufleet.boundary import JsonObject
from emufleet.errors import GroupValidationError, InputError, PoolValidationError
from emufleet.groups import GroupDefinition, GroupStore
from emufleet.pools import PoolDefinition
from emufleet.settings import data_dir
from emufleet.yamlio import loads_yaml

__all__ = ["GROUP_FLAGS", "group_data", "pool_data", "pool_file", "raw_group", "raw_pool", "validate_group",
           "validate_pool", "from_yaml"]

GROUP_FLAGS = ("validate_routine", "validate_templates", "validate_emulators", "refresh_pools", "repeat")
"""The group's ``launch:`` booleans, shown as checkboxes."""


def _instance(item: str) -> int | str:
    return int(item) if item.isdigit() else item


def _blank_to_none(data: JsonObject, *keys: str) -> None:
    for key in keys:
        if key in data and str(data[key]).strip() == "":
            del data[key]


def group_data(pairs: list[tuple[str, str]], base: JsonObject | None = None) -> JsonObject:
    """The group editor's fields (inputs named ``g.<path>``) over ``base`` (the definition being edited).

    Raises:
        InputError: a ``routine_config`` line is not ``key=value`` (field ``routine_config``).
    """
    form = nest(pairs, prefix="g")
    data: JsonObject = dict(base or {})
    data.setdefault("version", 1)
    for key in ("name", "description", "routine", "backend", "bots", "max_accounts"):
        if key in form:
            data[key] = form[key].strip()
    _blank_to_none(data, "max_accounts", "description")
    if "instances" in form:
        data["instances"] = [_instance(i) for i in parse_list(form["instances"])]
    for key in ("pools", "tags"):
        if key in form:
            data[key] = parse_list(form[key])
    if "routine_config" in form:
        data["routine_config"] = parse_lines(form["routine_config"], field="routine_config")
    launch = dict(data.get("launch") or {})
    for key, value in (form.get("launch") or {}).items():
        if key == "restart_policy":
            launch[key] = {**(launch.get(key) or {}), **{k: v.strip() for k, v in value.items()}}
        else:
            launch[key] = value.strip()
    if launch:
        data["launch"] = launch
    return data


def pool_data(pairs: list[tuple[str, str]], base: JsonObject | None = None) -> JsonObject:
    """The pool editor's fields (inputs named ``p.<path>``) over ``base``; filter values typed by comparator."""
    form = nest(pairs, prefix="p")
    data: JsonObject = dict(base or {})
    data.setdefault("version", 1)
    for key in ("pool_name", "description"):
        if key in form:
            data[key] = form[key].strip()
    _blank_to_none(data, "description")
    for key in ("include", "exclude", "watched_paths"):
        if key in form:
            data[key] = parse_list(form[key])
    if "queries" in form or form.get("has_queries"):
        data["queries"] = [_query(q) for q in form.get("queries") or [] if isinstance(q, dict)]
    if "config" in form:
        data["config"] = {**(data.get("config") or {}), **{k: v.strip() for k, v in form["config"].items()}}
    for key in ("include", "exclude", "watched_paths", "queries"):
        if key in data and not data[key]:
            del data[key]
    return data


def _query(form: JsonObject) -> JsonObject:
    query: JsonObject = {"name": str(form.get("name", "")).strip()}
    query["filters"] = [_filter(f) for f in form.get("filters") or [] if isinstance(f, dict)]
    sort = [{"column": s.get("column", ""), "direction": s.get("direction", "asc"),
             **({"enabled": s["enabled"]} if s.get("enabled") == "false" else {})}
            for s in form.get("sort") or [] if isinstance(s, dict) and s.get("column")]
    if sort:
        query["sort"] = sort
    if str(form.get("limit", "")).strip() not in ("", "0"):
        query["limit"] = str(form["limit"]).strip()
    return query


def _filter(form: JsonObject) -> JsonObject:
    comparator = " ".join(str(form.get("comparator", "")).split()).upper()
    out: JsonObject = {"column": form.get("column", ""), "comparator": comparator}
    raw = str(form.get("value", ""))
    if comparator in ("IN", "NOT IN"):
        out["value"] = parse_list(raw)
    elif comparator not in ("IS NULL", "IS NOT NULL"):
        out["value"] = raw.strip()
    if form.get("enabled") == "false":
        out["enabled"] = False
    return out


def validate_group(data: JsonObject) -> tuple[GroupDefinition | None, list[InputError]]:
    """``(definition, [])`` or ``(None, every located error)``."""
    name = str(data.get("name") or "new")
    return validate_all(GroupDefinition, data, f"groups/{name}.yaml", error=GroupValidationError)


def pool_file(name: str) -> Path:
    """Where pool ``name`` is (its file) or would be saved (``pools/<name>.yaml``)."""
    from emufleet.pools import discover, pool_file_name

    for entry in discover():
        if entry.definition is not None and entry.definition.name == name:
            return entry.path
    return data_dir("pools") / pool_file_name(name)


def validate_pool(data: JsonObject, file: Path | None = None) -> tuple[PoolDefinition | None, list[InputError]]:
    """``(definition, [])`` or ``(None, every located error)``; watched paths resolve against ``file``'s folder."""
    from console.forms import yaml_text

    file = file or pool_file(str(data.get("pool_name") or "new"))
    model, errors = validate_all(PoolDefinition, data, str(file), error=PoolValidationError)
    if errors:
        return None, errors
    try:  # the loader's own path: legacy checks, and the file the watched paths are relative to
        definition = PoolDefinition.loads(yaml_text(data), file)
    except PoolValidationError as exc:
        return None, [exc]
    outside = _outside_account_dirs(definition)
    return (None, outside) if outside else (definition, [])


def _outside_account_dirs(definition: PoolDefinition) -> list[InputError]:
    """A watched path edited in the console stays inside the account folders (:func:`emufleet.settings.account_dirs`):
    a pool test lists and reads files, and the console must not list ``/etc`` for whoever can reach it."""
    from emufleet.settings import account_dirs

    allowed = account_dirs()
    where = ", ".join(map(str, allowed))
    return [PoolValidationError(f"{raw!r:.200} is outside the account folders ({where}; EMUFLEET_ACCOUNT_DIRS "
                                "names others)", file=definition.file, field=f"watched_paths.{n}")
            for n, (raw, path) in enumerate(zip(definition.watched_paths, definition.watched_dirs(), strict=True))
            if not any(path.is_relative_to(root) for root in allowed)]


def from_yaml(text: str, file: str, *, error: type[InputError]) -> tuple[JsonObject | None, list[InputError]]:
    """YAML text of a whole definition → its data, or the syntax error."""
    try:
        data = loads_yaml(text, file, error=error)
    except InputError as exc:
        return None, [exc]
    if not isinstance(data, dict):
        return None, [error("a definition is a mapping", file=file, line=1, col=1)]
    return data, []


def raw_group(name: str) -> JsonObject:
    """Group ``name`` as editable data (every field, defaults included).

    Raises:
        GroupValidationError: no such group, or its file is invalid.
    """
    return GroupStore().get(name).model_dump(mode="json", exclude_none=True)


def raw_pool(definition: PoolDefinition) -> JsonObject:
    """A pool definition as editable data (filter values in the text form the YAML accepts)."""
    from emufleet.pools.store import definition_data

    return definition_data(definition)
