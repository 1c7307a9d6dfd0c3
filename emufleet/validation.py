"""pydantic validation of marked YAML data (:mod:`emufleet.yamlio`), reported at ``file:line:col: field``.

:func:`validate` turns a pydantic ``ValidationError`` into one of our located :class:`InputError` s, at the first
bad node; :func:`validation_errors` gives every error located; :func:`load_model` reads and validates a file in
one call. Paths read as in the YAML (:func:`format_loc`: ``steps[2].actions[0]``), without pydantic's union tags.

Example::

    data = load_yaml(path, error=RoutineValidationError)
    routine = validate(RoutineModel, data, path, error=RoutineValidationError)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

import pydantic

from emufleet.boundary import JsonObject, YamlValue
from emufleet.errors import InputError
from emufleet.yamlio import MarkedDict, MarkedList, Position, load_yaml

__all__ = ["format_loc", "load_model", "locate", "raise_validation", "validate", "validation_errors"]

M = TypeVar("M", bound=pydantic.BaseModel)
E = TypeVar("E", bound=InputError)


def locate(data: YamlValue, loc: Sequence[int | str]) -> Position | None:
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


def _data_loc(data: YamlValue, loc: Sequence[int | str], *, missing: bool) -> tuple[int | str, ...]:
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


def _key_pos(data: YamlValue, loc: Sequence[int | str]) -> Position | None:
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
    exc: pydantic.ValidationError, data: YamlValue, file: str | Path, *, error: type[E],
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
    exc: pydantic.ValidationError, data: YamlValue, file: str | Path, *, error: type[InputError],
    prefix: Sequence[int | str] = (),
) -> NoReturn:
    """Raise ``error`` for the first (by position) of :func:`validation_errors`; the others are appended to its
    message, and with several its ``errors`` holds each of them, located (the console's API lists them)."""
    first, *others = validation_errors(exc, data, file, error=error, prefix=prefix)
    message = "; ".join([first.message, *(_unfiled(e) for e in others)])
    raised = error(message, file=file, line=first.line, col=first.col, field=first.field)
    if others:
        raised.errors = [first, *others]
    raise raised from exc


def _unfiled(err: InputError) -> str:
    """``line:col: field: message`` (no file: the errors appended to the first one are in the same file)."""
    where = f"{err.line}:{err.col}: " if err.line is not None else ""
    return f"{where}{err.field or ''}: {err.message}"


def validate(model: type[M], data: YamlValue, file: str | Path, *, error: type[InputError] = InputError,
             context: JsonObject | None = None) -> M:
    """Validate marked data against a pydantic model; raise ``error`` located at the first bad node."""
    try:
        return model.model_validate(data, context=context)
    except pydantic.ValidationError as exc:
        raise_validation(exc, data, file, error=error)


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
