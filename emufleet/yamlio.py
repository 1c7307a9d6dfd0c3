"""YAML with source positions, and pydantic validation that reports ``file:line:col``.

Every user-edited file (routines, templates, scenarios, pools, groups) is read through :func:`load_yaml`, which
returns plain ``dict``/``list`` subclasses that remember where each key and item came from, and validated with
:func:`validate`, which turns a pydantic ``ValidationError`` into one of our located :class:`InputError` s.

Example::

    data = load_yaml(path, error=RoutineValidationError)
    routine = validate(RoutineModel, data, path, error=RoutineValidationError)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydantic
import yaml

from emufleet.errors import InputError

__all__ = [
    "MarkedDict", "MarkedList", "Position", "format_loc", "load_model", "load_yaml", "loads_yaml", "locate",
    "raise_validation", "validate", "validation_errors",
]

Position = tuple[int, int]  # (line, col), 1-based
M = TypeVar("M", bound=pydantic.BaseModel)
E = TypeVar("E", bound=InputError)


class MarkedDict(dict[Any, Any]):
    """A mapping that remembers its own position and the position of each key and value."""

    pos: Position = (1, 1)
    key_pos: dict[Any, Position]
    value_pos: dict[Any, Position]


class MarkedList(list[Any]):
    """A sequence that remembers its own position and the position of each item."""

    pos: Position = (1, 1)
    item_pos: list[Position]


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader building MarkedDict/MarkedList; rejects duplicate keys (a silent overwrite loses input)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    loader.flatten_mapping(node)
    out = MarkedDict()
    out.pos, out.key_pos, out.value_pos = _pos(node), {}, {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark)
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key], out.value_pos[key] = _pos(key_node), _pos(value_node)
    return out


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos, out.item_pos = _pos(node), [_pos(child) for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def loads_yaml(text: str, file: str | Path = "<string>", *, error: type[InputError] = InputError) -> Any:
    """Parse YAML text into MarkedDict/MarkedList/scalars.

    Raises:
        error: on a syntax error or a duplicate key, located at the offending mark.
    """
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise error(f"YAML: {exc.problem or exc.context}", file=file, line=line, col=col) from exc
    except yaml.YAMLError as exc:
        raise error(f"YAML: {exc}", file=file) from exc


def load_yaml(path: str | Path, *, error: type[InputError] = InputError) -> Any:
    """Read and parse a YAML file; see :func:`loads_yaml`. A missing file raises ``error`` naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror or exc}", file=path) from exc
    return loads_yaml(text, path, error=error)


def locate(data: Any, loc: Sequence[int | str]) -> Position | None:
    """Best position for a pydantic ``loc`` path inside marked data (the deepest node that exists)."""
    best: Position | None = getattr(data, "pos", None)
    node = data
    for part in loc:
        if isinstance(node, MarkedDict) and part in node:
            best = node.value_pos.get(part, best)
            node = node[part]
        elif isinstance(node, MarkedList) and isinstance(part, int) and 0 <= part < len(node):
            best = node.item_pos[part]
            node = node[part]
        elif isinstance(node, MarkedDict) and isinstance(part, str):
            # An unknown (extra) key: point at the key itself; a missing key: at the mapping.
            continue
        else:
            break
    return best


def _data_loc(data: Any, loc: Sequence[int | str], *, missing: bool) -> tuple[int | str, ...]:
    """``loc`` without pydantic's union tags (``"click"``, ``"function-after[...]"``): a path into ``data``.

    A tag is a bracketed part, or a string naming no key of the mapping it would index; the last part of a
    ``missing`` error names an absent key on purpose and is kept.
    """
    out: list[int | str] = []
    node = data
    for i, part in enumerate(loc):
        if isinstance(part, str) and ("[" in part or part.endswith("]") or (
                isinstance(node, dict) and part not in node and not (missing and i == len(loc) - 1))):
            continue
        out.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(out)


def format_loc(loc: Sequence[int | str]) -> str:
    """``("steps", 2, "actions", 0)`` → ``steps[2].actions[0]``: the path as it reads in the YAML."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _key_pos(data: Any, loc: Sequence[int | str]) -> Position | None:
    """Position of the key ``loc[-1]`` itself (where an unknown key is reported), if ``loc`` leads to it."""
    node = data
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if loc and isinstance(node, MarkedDict):
        return node.key_pos.get(loc[-1])
    return None


def validation_errors(
    exc: pydantic.ValidationError, data: Any, file: str | Path, *, error: type[E],
    prefix: Sequence[int | str] = (),
) -> list[E]:
    """Every error of ``exc`` as a located ``error``, sorted by position (unlocated ones first).

    ``data`` is the marked document and ``prefix`` the path inside it of what was validated. Each error's
    ``field`` is the path without pydantic's union tags; an unknown key reads ``unknown key`` at the key itself,
    other messages lose pydantic's ``Value error,`` prefix. ``line``/``col`` are ``None`` where ``data`` has no
    position (unmarked data, or a document that is a bare scalar).
    """
    out = []
    for item in exc.errors(include_url=False):
        raw = (*prefix, *item["loc"])
        loc = _data_loc(data, raw, missing=item["type"] == "missing")
        pos = locate(data, raw)
        if item["type"] == "extra_forbidden":
            pos, message = _key_pos(data, loc) or pos, "unknown key"
        else:
            message = item["msg"].removeprefix("Value error, ")
        line, col = pos if pos else (None, None)
        out.append(error(message, file=file, line=line, col=col, field=format_loc(loc) or None))
    return sorted(out, key=lambda e: (e.line or 0, e.col or 0))


def raise_validation(
    exc: pydantic.ValidationError, data: Any, file: str | Path, *, error: type[InputError],
    prefix: Sequence[int | str] = (),
) -> None:
    """Raise ``error`` for the first (by position) of :func:`validation_errors`; the others are appended."""
    first, *others = validation_errors(exc, data, file, error=error, prefix=prefix)
    message = "; ".join([first.message, *(_unfiled(e) for e in others)])
    raise error(message, file=file, line=first.line, col=first.col, field=first.field) from exc


def _unfiled(err: InputError) -> str:
    """``line:col: field: message`` (no file: the errors appended to the first one are in the same file)."""
    where = f"{err.line}:{err.col}: " if err.line is not None else ""
    return f"{where}{err.field or ''}: {err.message}"


def validate(model: type[M], data: Any, file: str | Path, *, error: type[InputError] = InputError,
             context: dict[str, Any] | None = None) -> M:
    """Validate marked data against a pydantic model; raise ``error`` located at the first bad node."""
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        raise_validation(exc, data, file, error=error)
        raise  # unreachable: raise_validation always raises


def load_model(model: type[M], path: str | Path, *, error: type[InputError] = InputError,
               what: str = "the file") -> M:
    """Read a YAML file whose top level is one mapping and validate it against ``model``.

    Raises:
        error: unreadable file, bad YAML, not a mapping (``<what> is a mapping``) or an invalid field, located as
            ``file:line:col: field: message``.
    """
    data = load_yaml(path, error=error)
    if not isinstance(data, dict):
        raise error(f"{what} is a mapping", file=path, line=1, col=1)
    return validate(model, data, path, error=error)
