"""Reading many boxes: a TSV of ``screen x1 y1 x2 y2`` (other columns kept) in, the same rows with ``read`` out.

The format of ``../shared/real-screens/text.tsv`` (and ``emufleet vision read --boxes``): UTF-8, tab-separated, a
header naming at least ``screen x1 y1 x2 y2``; boxes in the screen's own pixels, half-open; a ``lang`` column, if
present, gives each row's language (``en``, ``ja``, ``zh``). Screens are read once each; the engine is loaded once.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emufleet.errors import EmufleetError, InputError
from emufleet.vision.images import read_template_image
from emufleet.vision.recognizers.ocr import Layout, read_image
from emufleet.vision.text import LANGS, Lang

__all__ = ["BoxRow", "read_box_rows", "read_boxes", "write_read_tsv"]

REQUIRED = ("screen", "x1", "y1", "x2", "y2")


@dataclass(frozen=True, slots=True)
class BoxRow:
    """One row of a boxes TSV: its 1-based ``line``, all its ``fields`` (in header order) and the parsed box."""

    line: int
    fields: dict[str, str]
    box: tuple[int, int, int, int]
    lang: Lang


def read_box_rows(path: Path, default_lang: Lang = "en") -> tuple[list[str], list[BoxRow]]:
    """The header and rows of ``path``. Raises ``InputError`` (``file:line: field: message``) on a bad header or
    a row whose box is not four integers with x2 > x1, y2 > y1, or whose lang is unknown."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read: {exc}", file=path) from None
    reader = csv.DictReader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE)
    header = list(reader.fieldnames or [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"the header needs the columns {' '.join(REQUIRED)} (missing: {' '.join(missing)})",
                         file=path, line=1)
    rows = []
    for fields in reader:
        line = reader.line_num
        try:
            box = tuple(int(fields[c] or "") for c in ("x1", "y1", "x2", "y2"))
        except (TypeError, ValueError):
            raise InputError("x1 y1 x2 y2 must be integers", file=path, line=line, field="box") from None
        if box[2] <= box[0] or box[3] <= box[1]:
            raise InputError(f"empty box {box}: need x2 > x1 and y2 > y1", file=path, line=line, field="box")
        lang = fields.get("lang") or default_lang
        if lang not in LANGS:
            raise InputError(f"unknown lang {lang!r} ({', '.join(LANGS)})", file=path, line=line, field="lang")
        rows.append(BoxRow(line, {k: fields.get(k) or "" for k in header}, (box[0], box[1], box[2], box[3]),
                           lang))
    return header, rows


def read_boxes(rows: list[BoxRow], root: Path, *, layout: Layout = "auto"
               ) -> Iterator[tuple[BoxRow, str | None, EmufleetError | None]]:
    """``(row, text read, None)`` per row, in order, or ``(row, None, error)`` for a row whose screen cannot be
    read or whose box lies outside it (located ``file:line``); the other rows go on."""
    screens: dict[str, np.ndarray | EmufleetError] = {}
    for row in rows:
        name = row.fields["screen"]
        if name not in screens:
            try:
                screens[name] = read_template_image(root / name).image
            except EmufleetError as exc:
                screens[name] = exc
        image = screens[name]
        if isinstance(image, EmufleetError):
            yield row, None, image
            continue
        try:
            lines = read_image(image, row.box, layout=layout, lang=row.lang)
        except EmufleetError as exc:
            yield row, None, exc
            continue
        yield row, " ".join(t.text for t in lines), None


def write_read_tsv(header: list[str], results: list[tuple[BoxRow, str]]) -> str:
    """The rows again, in order, with the ``read`` column added (replaced if the input had one)."""
    columns = [c for c in header if c != "read"] + ["read"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\", lineterminator="\n")
    writer.writerow(columns)
    for row, text in results:
        writer.writerow([*(row.fields[c] for c in columns[:-1]), text.replace("\t", " ")])
    return out.getvalue()
