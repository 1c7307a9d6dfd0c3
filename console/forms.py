"""HTML forms ↔ the nested data of a definition, and validation errors located on the form's fields.

Inputs are named by their path in the definition, as errors name them (:func:`emufleet.validation.format_loc`):
``launch.restart_policy.mode``, ``queries[0].filters[1].value``. :func:`nest` turns the submitted pairs back into
dicts and lists; a checkbox is sent as a hidden ``false`` followed by the box's ``true``, so the last value wins.
The nested data is then dumped to YAML and read back with :func:`emufleet.yamlio.loads_yaml`, so the definition's
own validation (the one the CLI and the loaders use) reports every error with its field path.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NoReturn, TypeVar
from urllib.parse import parse_qsl

import pydantic
import yaml
from starlette.requests import Request

from emufleet.boundary import JsonObject, YamlValue
from emufleet.errors import InputError
from emufleet.validation import validation_errors
from emufleet.yamlio import MarkedDict, loads_yaml

M = TypeVar("M", bound=pydantic.BaseModel)

__all__ = ["FieldErrors", "form_pairs", "nest", "parse_lines", "parse_list", "raise_all", "validate_all", "yaml_text"]

_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


async def form_pairs(request: Request) -> list[tuple[str, str]]:
    """The ``application/x-www-form-urlencoded`` body as ordered pairs (no multipart: the forms upload no files)."""
    body = (await request.body()).decode("utf-8", errors="replace")
    return parse_qsl(body, keep_blank_values=True)


def _path(name: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PART.findall(name)]


def nest(pairs: Iterable[tuple[str, str]], *, prefix: str = "") -> JsonObject:
    """``[("a.b[0].c", "x")]`` → ``{"a": {"b": [{"c": "x"}]}}``; only names under ``prefix.`` (stripped).

    List items keep their index order; gaps (a removed row) close up. A repeated name keeps its last value.
    """
    root: dict[YamlValue, YamlValue] = {}
    for name, value in pairs:
        if prefix:
            if not name.startswith(prefix + "."):
                continue
            name = name[len(prefix) + 1:]
        parts = _path(name)
        if not parts:
            continue
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[parts[-1]] = value
    nested: JsonObject = _lists(root)  # the root stays a mapping (only index-keyed levels become lists)
    return nested


def _lists(node: YamlValue) -> YamlValue:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_lists(node[k]) for k in sorted(node)]
    return {k: _lists(v) for k, v in node.items()}


def parse_list(text: str | None) -> list[str]:
    """``"a, b\\nc"`` → ``["a", "b", "c"]`` (commas or new lines; blanks dropped)."""
    return [item.strip() for item in re.split(r"[,\n]", text or "") if item.strip()]


def parse_lines(text: str | None, *, field: str) -> dict[str, str]:
    """``"k=v"`` lines → a dict.

    Raises:
        InputError: a non-blank line without ``=`` (``field`` names the input, ``line`` the line).
    """
    out: dict[str, str] = {}
    for number, line in enumerate((text or "").splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise InputError(f"expected key=value, got {line.strip()!r}", line=number, field=field)
        out[key.strip()] = value.strip()
    return out


class FieldErrors(dict[str, list[str]]):
    """Error messages by field path (``""`` for errors of the whole definition)."""

    @classmethod
    def of(cls, errors: Iterable[InputError], data: YamlValue = None) -> FieldErrors:
        """Group ``errors`` by field. A model-level error whose message starts with the name of one of the
        model's own fields (``bots (3) exceeds …``, ``initial_delay must not exceed …``) is filed under that
        field, so the form shows it beside the input it is about."""
        out = cls()
        for err in errors:
            out.setdefault(_field_named(err, data) or err.field or "", []).append(err.message)
        return out

    def under(self, prefix: str) -> list[str]:
        """Messages of ``prefix`` and of every field below it (``queries[0]`` → its filters' too)."""
        return [m for k, msgs in self.items() if k == prefix or k.startswith((prefix + ".", prefix + "["))
                for m in msgs]


def _field_named(err: InputError, data: YamlValue) -> str | None:
    word = re.match(r"[a-z_]+", err.message)
    if word is None or data is None:
        return None
    node = data
    for part in _path(err.field or ""):
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    if not isinstance(node, dict) or word.group() not in node:
        return None
    return f"{err.field}.{word.group()}" if err.field else word.group()


def validate_all(model: type[M], data: JsonObject, file: str, *,
                 error: type[InputError]) -> tuple[M | None, list[InputError]]:
    """Validate ``data`` as ``model`` the way its YAML loader would; ``(instance, [])`` or ``(None, errors)``.

    Marked data (read from YAML text the user typed) is validated as it is, so errors point at the user's lines;
    form and JSON data go through a YAML round trip (the loaders' own path), and their errors are located by
    field path alone.
    """
    if isinstance(data, MarkedDict):
        marked: YamlValue = data
    else:
        try:
            marked = loads_yaml(yaml_text(data), file, error=error)
        except InputError as exc:
            return None, [exc]
    try:
        return model.model_validate(marked), []
    except pydantic.ValidationError as exc:
        errors = validation_errors(exc, marked, file, error=error)
    if marked is data:
        return None, list(errors)
    # lines of a YAML nobody typed mean nothing: form and JSON errors are located by their field alone
    return None, [error(e.message, file=file, field=e.field) for e in errors]


def raise_all(errors: list[InputError]) -> NoReturn:
    """Raise the first of ``errors`` carrying all of them (``.errors``: the API's JSON lists every one)."""
    first = errors[0]
    first.errors = errors
    raise first


def yaml_text(data: YamlValue) -> str:
    """``data`` as block YAML, keys in their given order (what a definition file of it would read)."""
    return yaml.safe_dump(_plain(data), sort_keys=False, allow_unicode=True)


def _plain(value: YamlValue) -> YamlValue:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
