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

__all__ = ["MarkedDict", "MarkedList", "Position", "load_yaml", "loads_yaml", "locate", "validate"]

Position = tuple[int, int]  # (line, col), 1-based
M = TypeVar("M", bound=pydantic.BaseModel)


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


def _field_name(loc: Sequence[int | str]) -> str:
    # Drop pydantic's union-branch tags (e.g. "function-after[...]") so the path reads like the YAML.
    parts = [str(p) for p in loc if not (isinstance(p, str) and ("[" in p or p.endswith("]")))]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


def raise_validation(
    exc: pydantic.ValidationError, data: Any, file: str | Path, *, error: type[InputError],
    prefix: Sequence[int | str] = (),
) -> None:
    """Raise ``error`` for the first error of ``exc``, located in ``data``; the others are appended."""
    errors = exc.errors(include_url=False)
    messages = []
    first_pos: Position | None = None
    first_field = None
    for item in errors:
        loc = tuple(prefix) + tuple(item["loc"])
        pos = locate(data, loc)
        if item["type"] == "extra_forbidden" and isinstance(pos, tuple):
            pos = _key_pos(data, loc) or pos
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        field = _field_name(loc)
        if first_pos is None:
            first_pos, first_field = pos, field
            messages.append(msg)
        else:
            where = f"{pos[0]}:{pos[1]}: " if pos else ""
            messages.append(f"{where}{field}: {msg}")
    line, col = first_pos if first_pos else (None, None)
    raise error("; ".join(messages), file=file, line=line, col=col, field=first_field or None) from exc


def _key_pos(data: Any, loc: Sequence[int | str]) -> Position | None:
    node = data
    for part in loc[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(node, MarkedDict):
        return node.key_pos.get(loc[-1])
    return None


def validate(model: type[M], data: Any, file: str | Path, *, error: type[InputError] = InputError,
             context: dict[str, Any] | None = None) -> M:
    """Validate marked data against a pydantic model; raise ``error`` located at the first bad node."""
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        raise_validation(exc, data, file, error=error)
        raise  # unreachable: raise_validation always raises
