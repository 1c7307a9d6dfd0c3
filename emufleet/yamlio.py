"""YAML with source positions.

Every user-edited file (routines, templates, scenarios, pools, groups) is read through :func:`load_yaml`, which
returns plain ``dict``/``list`` subclasses that remember where each key and item came from, and validated with
:func:`emufleet.validation.validate`, which turns a pydantic ``ValidationError`` into one of our located
:class:`InputError` s.

Example::

    data = load_yaml(path, error=RoutineValidationError)
    routine = validate(RoutineModel, data, path, error=RoutineValidationError)

Hostile input (files are edited by hand and shared) is refused here, before any model sees it, always with a
located ``error`` and in time linear in the file's size:

* **Encoding**: UTF-8 (a BOM is skipped) or UTF-16 with its BOM; an invalid or truncated byte sequence is reported
  at its line and column. U+0000 and lone surrogates (``"\\ud800"``) are refused in every scalar: no path, SQL
  parameter or terminal can take them.
* **Size**: at most :data:`MAX_BYTES` per file (PyYAML is pure Python here: ≈ 5 µs a byte).
* **Depth**: at most :data:`MAX_DEPTH` nested collections, counted while composing (the composer and the
  constructor recurse, so a deeper file would raise ``RecursionError``) and again after alias expansion.
* **Aliases**: anchors, aliases and merge keys (``<<: *defaults``) are useful and stay allowed, but the document
  is measured as if every alias were expanded (nodes plus scalar characters, memoised per node so the check is
  linear) and refused above :data:`MAX_EXPANDED` with the mark of the node that crosses it; a recursive alias
  is refused too. Capping the expansion (rather than refusing aliases only where values get stringified) keeps
  the guarantee independent of what each model later does with a value: whatever walks the data (pydantic,
  ``str()``, ``yaml.dump``) walks at most :data:`MAX_EXPANDED` units.
* **Numbers**: integers must fit in 64 bits (a 5,000-digit literal is not parsed at all); any scalar a
  constructor cannot build (``2025-13-45``) is a located error. Floats may be ``.inf``/``1e300``: bounds are the
  fields' (pydantic constraints), which know what a value means.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from emufleet.boundary import YamlValue
from emufleet.datafiles import read_data_file
from emufleet.errors import InputError

__all__ = ["MAX_BYTES", "MAX_DEPTH", "MAX_EXPANDED", "MarkedDict", "MarkedList", "Position", "decode_text", "load_yaml",
           "loads_yaml"]

Position = tuple[int, int]  # (line, col), 1-based

MAX_BYTES = 256 * 1024
"""Largest YAML document read (bytes, or characters for text); shipped files are a few KiB."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences, after alias expansion (a routine nests ≈ 2 levels per block)."""
MAX_EXPANDED = 1_000_000
"""Largest document after alias expansion, in nodes plus scalar characters (≈ 4 × a :data:`MAX_BYTES` file)."""
_INT_LIMIT = 2**63
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")


class MarkedDict(dict[YamlValue, YamlValue]):
    """A mapping that remembers its own position and the position of each key and value."""

    pos: Position = (1, 1)
    key_pos: dict[YamlValue, Position]
    value_pos: dict[YamlValue, Position]


class MarkedList(list[YamlValue]):
    """A sequence that remembers its own position and the position of each item."""

    pos: Position = (1, 1)
    item_pos: list[Position]


def _pos(node: yaml.Node) -> Position:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _Loader(yaml.SafeLoader):
    """SafeLoader building MarkedDict/MarkedList, with the limits of this module's docstring.

    Rejects duplicate keys (a silent overwrite loses input).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                # types-PyYAML leaves Parser.peek_event unannotated (it returns the next Event)
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _measure(node, {}, set())
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> YamlValue:
        try:
            return super().construct_object(node, deep)
        except yaml.YAMLError:
            raise
        except (ValueError, ArithmeticError, TypeError, LookupError, AttributeError) as exc:  # 2025-13-45, !!bool x
            what = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise ConstructorError(None, None, f"{node.value!r:.60} is not a valid {what} ({exc})",
                                   node.start_mark) from exc


def _measure(node: yaml.Node, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """``(expanded size, expanded depth)`` of ``node``; raises a located ``ComposerError`` over the limits.

    Aliases make the node graph a DAG; ``memo`` (by node id) keeps this linear. Visiting in document order, an
    alias's target is always either measured already or an ancestor (``active``: a recursive alias).
    """
    key = id(node)
    if key in memo:
        return memo[key]
    if isinstance(node, yaml.ScalarNode):
        bad = _BAD_TEXT.search(node.value)
        if bad:
            raise ConstructorError(None, None, f"character U+{ord(bad.group()):04X} is not allowed in YAML text",
                                   node.start_mark)
        memo[key] = 1 + len(node.value), 1
        return memo[key]
    active.add(key)
    children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
    size, depth = 1, 0
    for child in children:
        if id(child) in active:
            raise yaml.composer.ComposerError(None, None, "recursive alias (a node that contains itself)",
                                              child.start_mark)
        child_size, child_depth = _measure(child, memo, active)
        size, depth = size + child_size, max(depth, child_depth)
        if size > MAX_EXPANDED:
            raise yaml.composer.ComposerError(
                None, None, f"aliases expand this node beyond {MAX_EXPANDED:,} nodes and characters", node.start_mark)
    active.discard(key)
    if depth + 1 > MAX_DEPTH:
        raise yaml.composer.ComposerError(None, None, f"aliases nest this node deeper than {MAX_DEPTH} levels",
                                          node.start_mark)
    memo[key] = size, depth + 1
    return memo[key]


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    if ":" in node.value:  # YAML 1.1's base 60 (190:20:30 is 685,830): a time written so is refused, not guessed
        raise ConstructorError(None, None, f"{node.value!r:.40} is a YAML 1.1 base-60 number; write seconds, or "
                               "quote it if it is text", node.start_mark)
    if len(node.value) > 80:  # 64 bits in binary with separators; refuses 5,000-digit literals before int()
        raise ConstructorError(None, None, "integer out of range (64 bits); quote it if it is text", node.start_mark)
    value: int = SafeConstructor.construct_yaml_int(loader, node)
    if not -_INT_LIMIT <= value < _INT_LIMIT:
        raise ConstructorError(None, None, "integer out of range (64 bits); quote it if it is text", node.start_mark)
    return value


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    if ":" in node.value:  # base 60 again (190:20:30.5)
        raise ConstructorError(None, None, f"{node.value!r:.40} is a YAML 1.1 base-60 number; write seconds, or "
                               "quote it if it is text", node.start_mark)
    value: float = SafeConstructor.construct_yaml_float(loader, node)
    return value


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> MarkedDict:
    # Keys merged in by ``<<`` come first after flattening; the mapping's own keys override them (YAML merge
    # semantics) and only a key written twice among its own is a duplicate.
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    first_own = len(node.value) - own
    out = MarkedDict()
    out.pos, out.key_pos, out.value_pos = _pos(node), {}, {}
    own_keys: set[YamlValue] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        if not isinstance(key_node, yaml.ScalarNode):
            raise ConstructorError(None, None, "a mapping key must be a scalar", key_node.start_mark)
        key = loader.construct_object(key_node, deep=True)
        if index >= first_own:
            if key in own_keys:
                raise ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
            own_keys.add(key)
        out[key] = loader.construct_object(value_node, deep=True)
        out.key_pos[key], out.value_pos[key] = _pos(key_node), _pos(value_node)
    return out


def _refuse_tag(loader: _Loader, node: yaml.Node) -> None:
    raise ConstructorError(None, None, f"the tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not supported "
                           "(plain strings, numbers, booleans, lists and mappings only)", node.start_mark)


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> MarkedList:
    out = MarkedList(loader.construct_object(child, deep=True) for child in node.value)
    out.pos, out.item_pos = _pos(node), [_pos(child) for child in node.value]
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
for _tag in ("binary", "set", "omap", "pairs"):  # types no model takes; refused rather than half-validated
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse_tag)


def _text_position(text: str, index: int) -> Position:
    """1-based ``(line, col)`` of character ``index`` of ``text``."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def decode_text(raw: bytes, file: str | Path = "<bytes>", *, error: type[InputError] = InputError) -> str:
    """The text of a YAML file: UTF-8 (BOM skipped), or UTF-16 when it starts with a UTF-16 BOM.

    Raises:
        error: larger than :data:`MAX_BYTES`, or an invalid/truncated byte sequence, located at its line and
            column (the column counts the characters before it on its line).
    """
    if len(raw) > MAX_BYTES:
        raise error(f"file is larger than the limit of {MAX_BYTES:,} bytes", file=file)
    encoding = "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        good = raw[:exc.start].decode(encoding, errors="replace")
        line, col = _text_position(good, len(good))
        raise error(f"not valid {encoding.removesuffix('-sig').upper()}: {exc.reason} at byte {exc.start} "
                    f"({raw[exc.start:exc.start + 4].hex(' ')})", file=file, line=line, col=col) from None


def loads_yaml(text: str, file: str | Path = "<string>", *, error: type[InputError] = InputError) -> YamlValue:
    """Parse YAML text into MarkedDict/MarkedList/scalars, within this module's limits.

    Raises:
        error: on a syntax error, a duplicate key, a character YAML does not allow, a value no constructor can
            build, or a limit (size, depth, alias expansion, 64-bit integers), located at the offending mark.
    """
    if len(text) > MAX_BYTES:
        raise error(f"document is {len(text):,} characters; the limit is {MAX_BYTES:,}", file=file)
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise error(f"YAML: {exc.problem or exc.context}", file=file, line=line, col=col) from exc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow (control characters, U+FFFE)
        line, col = _text_position(text, exc.position)
        raise error(f"YAML: character U+{exc.character:04X} is not allowed", file=file, line=line,
                    col=col) from exc
    except yaml.YAMLError as exc:
        raise error(f"YAML: {exc}", file=file) from exc


def load_yaml(path: str | Path, *, error: type[InputError] = InputError) -> YamlValue:
    """Read, decode (:func:`decode_text`) and parse (:func:`loads_yaml`) a YAML file.

    Raises:
        error: the file cannot be read (missing, a folder, no permission, a NUL in its name), or see above.
    """
    path = Path(path)
    raw = read_data_file(path, MAX_BYTES, error=error)  # a huge file is refused without reading it whole
    return loads_yaml(decode_text(raw, path, error=error), path, error=error)
