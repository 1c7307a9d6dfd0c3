"""``emufleet templates match``: score templates on a screenshot and write an overlay PNG to look at."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import finite, parse_box

if TYPE_CHECKING:
    pass

__all__ = ["register"]

templates_app = typer.Typer(help="Template sets: match them on screenshots, lint them, calibrate their scale.",
                            no_args_is_help=True)


@templates_app.command("match")
def match_command(
    image: Annotated[Path, typer.Argument(help="A device screenshot PNG (e.g. 540×960), or a window-sized one.")],
    template: Annotated[list[str] | None, typer.Option(
        "--template", "-t", help="Only this template (repeatable); default: every template of the set.")] = None,
    templates: Annotated[Path | None, typer.Option(
        "--templates", help="Registry YAML or folder (also the seed's layout); default: the project's templates/.")
    ] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", "-o", help="Overlay PNG to write; default: IMAGE's name + '.matches.png' beside it.")] = None,
    method: Annotated[str, typer.Option(help="Match method (see docs/vision.md).")] = "ccoeff",
    threshold: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, callback=finite, help="Override every template's threshold.")] = None,
) -> None:
    """Print each template's score and location, and write an overlay PNG with the match rectangles.

    The overlay shows found templates (green); with ``--template`` also the near misses (red) and search regions.

    Exit status: 0 when every ``--template`` asked for was found (or none was asked for), 1 otherwise, 2 on bad
    input (unreadable image, invalid registry, unknown template or method).
    """
    import cv2
    import numpy as np

    from emufleet.errors import EmufleetError
    from emufleet.vision import Screen, load_templates, match
    from emufleet.vision.images import read_image
    from emufleet.vision.overlay import draw_overlay

    try:
        ts = load_templates(templates)
        # decoded from bytes (cv2.imread prints its own "[ WARN …] imread_" line), size checked first
        frame = read_image(image, cv2.IMREAD_COLOR)
        space = ts.space
        if frame.shape[:2] == (space.height, space.width):
            typer.echo(f"{image}: window-sized ({space.width}×{space.height}); mapped onto the device grid")
            frame = np.ascontiguousarray(space.space_to_frame(frame))
        screen = Screen(frame, space)
        chosen = [ts.get(name) for name in template] if template else list(ts)
        results = [match(screen, t, space=space, threshold=threshold, method=method) for t in chosen]
    except EmufleetError as exc:
        hint = "" if image.is_file() else " (take one with `emufleet devices screenshot SERIAL FILE`)"
        typer.echo(f"error: {exc}{hint}", err=True)
        raise typer.Exit(2) from exc

    width = max([len("template"), *(len(r.template) for r in results)])
    typer.echo(f"{'template':<{width}}  score  thresh  found  device centre  template top-left  scale")
    for r in results:
        m = r.best or r.nearest
        where = (f"{m.device_center[0]:>5},{m.device_center[1]:<5}   {m.top_left[0]:>5},{m.top_left[1]:<5}"
                 f"        {m.scale:.2f}") if m else "-"
        typer.echo(f"{r.template:<{width}}  {r.score:.3f}  {r.threshold:<6g}  {'yes' if r.found else 'no':<5}  "
                   f"{where}")
    target = out if out is not None else image.with_name(image.stem + ".matches.png")
    if not cv2.imwrite(str(target), draw_overlay(frame, results, space, misses=bool(template))):
        typer.echo(f"error: cannot write {target}", err=True)
        raise typer.Exit(2)
    typer.echo(f"overlay: {target}")
    if template and not all(r.found for r in results):
        raise typer.Exit(1)


@templates_app.command("lint")
def lint_command(
    registry: Annotated[Path | None, typer.Argument(
        help="Registry YAML or folder (also the seed's layout); default: the project's templates/.")] = None,
    screens: Annotated[Path | None, typer.Option(
        "--screens", help="A folder of screenshots (PNG): also report templates found at several places.")] = None,
) -> None:
    """Report templates that cannot be verified on real pixels or are ambiguous (docs/vision.md "Lint").

    Low-texture, too small, self-similar, near-duplicate, low-texture without a region; with ``--screens``,
    templates found at more than one place on a screen. Exit status: 0 clean, 1 findings, 2 bad input.
    """
    from collections import Counter

    from emufleet.errors import EmufleetError
    from emufleet.vision import load_templates
    from emufleet.vision.lint import lint

    try:
        ts = load_templates(registry)
        shots = sorted(p for p in screens.iterdir() if p.suffix.lower() == ".png") if screens else None
        findings = lint(ts, shots)
    except (EmufleetError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for f in findings:
        typer.echo(f"{f.template}: {f.kind}: {f.message}")
    counts = Counter(f.kind for f in findings)
    flagged = len({f.template for f in findings})
    summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    typer.echo(f"{len(ts)} templates, {flagged} with findings" + (f": {summary}" if summary else ""))
    if findings:
        raise typer.Exit(1)


@templates_app.command("calibrate")
def calibrate_command(
    screen: Annotated[Path | None, typer.Argument(help="A device screenshot PNG showing some of the set.")] = None,
    serial: Annotated[str | None, typer.Option("--serial", help="Take the screenshot from this device.")] = None,
    templates: Annotated[Path | None, typer.Option(
        "--templates", help="The registry YAML file to calibrate; default: templates/registry.yaml.")] = None,
    write: Annotated[bool, typer.Option(help="Store the measured scale in the registry header.")] = True,
) -> None:
    """Measure the set's actual scale on a live screen (``--serial``) or a screenshot, and store it as the
    registry header's ``scale:`` so that the default sweep stays narrow. Exit 2 on bad input or nothing found."""
    import cv2

    from emufleet.errors import EmufleetError
    from emufleet.settings import data_dir
    from emufleet.vision import load_templates
    from emufleet.vision.calibrate import measure_scale, write_scale

    if (screen is None) == (serial is None):
        typer.echo("error: give a SCREEN.png or --serial, not both", err=True)
        raise typer.Exit(2)
    registry = templates if templates is not None else data_dir("templates") / "registry.yaml"
    try:
        ts = load_templates(registry)
        if screen is not None:
            from emufleet.vision.images import read_image

            frame = read_image(screen, cv2.IMREAD_COLOR)
        else:
            from emufleet.device import Device

            device = Device(str(serial))
            device.connect(15)
            frame = device.screenshot()
        estimate = measure_scale(ts, frame)
    except EmufleetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    for name, scale, score in estimate.found:
        typer.echo(f"{name:<24} scale {scale:.3f}  score {score:.3f}")
    typer.echo(f"set scale {estimate.scale:g} (median of {len(estimate.found)} templates)")
    if write and registry.is_file():
        typer.echo(f"written to {registry}: scale {write_scale(registry, estimate.scale):g}")


@templates_app.command("capture")
def capture_command(
    name: Annotated[str, typer.Option("--name", help="The new template's name (what routines use).")],
    box: Annotated[str, typer.Option("--box", help="x1,y1,x2,y2: the rectangle to cut (half-open), in --units.")],
    serial: Annotated[str | None, typer.Option("--serial", help="Capture the screen of this device now.")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="Or cut from this screenshot (PNG, device size).")
                     ] = None,
    set_: Annotated[Path | None, typer.Option("--set", help="The template set: its registry YAML, or a folder with "
                                              "registry.yaml. Default: the project's templates/.")] = None,
    units: Annotated[str, typer.Option("--units", help="What --box is in: device (px of the screen, as the live "
                                       "view shows) or template (the set's coordinate space).")] = "device",
    margin: Annotated[int, typer.Option("--margin", min=0, help="Template px around the box: its search region.")
                      ] = 10,
    threshold: Annotated[float, typer.Option("--threshold", min=0.01, max=1.0)] = 0.8,
    screens: Annotated[Path | None, typer.Option("--screens", help="A folder of saved screens (PNG): the verdict on "
                                                 "each too.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Judge it, save nothing.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a template of that name.")] = False,
) -> None:
    """Cut a template out of a device's screen (or a screenshot) in the set's coordinate space, show the matcher's
    verdict on the screen and on --screens (where, score, runner-up) and the linter's warnings, then add it to the
    set's registry YAML (one entry line; the rest of the file untouched) and its image beside the others.

    Exit status: 0 saved (or judged, with --dry-run) and found on the screen it was cut from; 1 not found there;
    2 bad input.
    """
    import cv2

    from emufleet.errors import EmufleetError
    from emufleet.vision import Region, load_templates
    from emufleet.vision.capture import judge, save
    from emufleet.vision.images import read_image

    if (serial is None) == (image is None):
        raise typer.BadParameter("give exactly one of --serial and --image")
    if units not in ("device", "template"):
        raise typer.BadParameter(f"--units {units!r}: device or template")
    registry = set_ or Path("templates")
    if registry.is_dir():
        registry = registry / "registry.yaml"
    try:
        ts = load_templates(registry)
        if serial is not None:
            from emufleet.device import connect

            frame = connect(serial).screenshot()
        else:
            assert image is not None
            frame = read_image(image, cv2.IMREAD_COLOR)
        x1, y1, x2, y2 = parse_box(box)
        shots = [(p.name, read_image(p, cv2.IMREAD_COLOR))
                 for p in sorted(screens.iterdir()) if p.suffix.lower() == ".png"] if screens else []
        judged = judge(ts, frame, Region(x1, y1, x2, y2), name=name, device_units=units == "device", margin=margin,
                       threshold=threshold, screens=shots)
    except (EmufleetError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    made, seen, found = judged.capture, judged.verdicts, judged.warnings
    h, w = made.image.shape[:2]
    typer.echo(f"{name}: {w}×{h} template px cut at {made.box.as_tuple()}, search region {made.region.as_tuple()} "
               f"(margin {margin}), threshold {threshold:g}")
    for v in seen:
        typer.echo(f"  verdict {v}")
    for f in found:
        typer.echo(f"  warning {f.kind}: {f.message}")
    if not dry_run:
        try:
            png = save(made, registry, overwrite=force)
        except (EmufleetError, OSError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(f"saved {name} into {registry} ({png})")
    if not judged.found:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``templates`` command group to the root command."""
    app.add_typer(templates_app, name="templates")
