"""``emufleet vision read``: the text inside a box of an image, or inside every box of a TSV (docs/vision.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emufleet.cli._common import parse_box

__all__ = ["register"]

vision_app = typer.Typer(help="Recognition beyond templates: read text on screenshots.", no_args_is_help=True)


@vision_app.command("read")
def read_command(
    image: Annotated[Path | None, typer.Argument(help="A screenshot (PNG or any format OpenCV reads).")] = None,
    box: Annotated[str | None, typer.Option(
        help="x1,y1,x2,y2 in the image's own pixels (half-open); default: the whole image.")] = None,
    boxes: Annotated[Path | None, typer.Option(
        help="A TSV with a header of at least: screen x1 y1 x2 y2 (other columns are kept).")] = None,
    root: Annotated[Path | None, typer.Option(help="Folder of the TSV's screens (default: the TSV's folder).")
                    ] = None,
    lang: Annotated[str, typer.Option(help="en, ja or zh (a TSV's lang column wins).")] = "en",
    layout: Annotated[str, typer.Option(help="auto (by the box's height), line or block.")] = "auto",
) -> None:
    """Print the text inside ``--box`` of IMAGE, or, with ``--boxes``, the TSV again with a ``read`` column.

    One row per input row, in order; the OCR engine is loaded once. Exit status 1 when a row could not be read
    (each such row is reported on stderr as ``file:line: …`` and left with an empty read), 2 on bad arguments.
    """
    from emufleet.errors import EmufleetError
    from emufleet.vision.images import read_template_image
    from emufleet.vision.recognizers import read_image
    from emufleet.vision.text import LANGS
    from emufleet.vision.text_boxes import read_box_rows, read_boxes, write_read_tsv

    if lang not in LANGS:
        raise typer.BadParameter(f"{lang!r}: one of {', '.join(LANGS)}", param_hint="--lang")
    if layout not in ("auto", "line", "block"):
        raise typer.BadParameter(f"{layout!r}: auto, line or block", param_hint="--layout")
    if (image is None) == (boxes is None):
        raise typer.BadParameter("give IMAGE (with --box) or --boxes FILE.tsv", param_hint="IMAGE")
    try:
        if image is not None:
            frame = read_template_image(image).image
            lines = read_image(frame, parse_box(box) if box else None, layout=layout, lang=lang)  # type: ignore[arg-type]
            typer.echo(" ".join(t.text for t in lines))
            return
        assert boxes is not None
        header, rows = read_box_rows(boxes, lang)
        results, failed = [], 0
        for row, text, error in read_boxes(rows, root or boxes.parent, layout=layout):  # type: ignore[arg-type]
            if error is not None:
                failed += 1
                typer.secho(f"{boxes}:{row.line}: {error}", fg="red", err=True)
            results.append((row, text or ""))
        typer.echo(write_read_tsv(header, results), nl=False)
    except EmufleetError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2 if image is not None else 1) from None
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(vision_app, name="vision")
