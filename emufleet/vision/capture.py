"""Template capture: cut a new template out of a device frame, judge it before saving, and add it to a registry.

* :func:`cut` crops a box of the frame **in the set's coordinate space** (the pixels a registry image holds) and
  proposes a search region: the box plus ``margin`` template px, clipped to the window;
* :func:`verdict` is the matcher's answer for the candidate on a frame: found or not, where (device px), its score,
  and the runner-up (the next distinct place it scores at), so an ambiguous cut shows before it is saved;
* :func:`warnings` are the linter's for it: low texture, too small, self-similar, ambiguous on the frames given,
  a search region overlapping another template's with a similar image;
* :func:`save` writes the image next to the registry's others and inserts one entry line at the end of the
  registry's ``templates:`` list; the rest of the file (comments, order, formatting) is left as it was, and the new
  file is loaded before it replaces the old one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emufleet.errors import TemplateRegistryError, VisionError
from emufleet.files import write_atomic
from emufleet.vision.lint import Finding, lint_template
from emufleet.vision.matching import Screen, match
from emufleet.vision.registry import Template, TemplateSet
from emufleet.vision.space import CoordinateSpace, Region

__all__ = ["Capture", "Judged", "Verdict", "cut", "judge", "save", "verdict", "warnings"]

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.|-]*$")


@dataclass(frozen=True, slots=True)
class Capture:
    """A template cut from a frame: ``name``, ``image`` (h, w, 3) uint8 BGR in template space, the ``box`` it was
    cut from and the search ``region`` (template space), its ``threshold``."""

    name: str
    image: np.ndarray
    box: Region
    region: Region
    threshold: float

    def template(self) -> Template:
        """The capture as a registry :class:`Template` (not saved yet)."""
        image = np.ascontiguousarray(self.image)
        image.setflags(write=False)
        return Template(self.name, Path(f"{self.name}.png"), self.threshold, self.region, 1.0, image, None,
                        source="capture")


@dataclass(frozen=True, slots=True)
class Verdict:
    """The matcher on one frame: ``found`` (at or above the threshold), the best ``score``, where (``center``,
    device px), and the ``runner_up`` score at another place (``None``: no other place scored)."""

    label: str
    found: bool
    score: float
    center: tuple[int, int] | None
    runner_up: float | None

    def __str__(self) -> str:
        where = f"at {self.center} device px" if self.center else "nowhere"
        second = f", runner-up {self.runner_up:.3f}" if self.runner_up is not None else ", no runner-up"
        return f"{self.label}: {'found' if self.found else 'not found'} {where}, score {self.score:.3f}{second}"


def cut(frame: np.ndarray, space: CoordinateSpace, box: Region, *, name: str, margin: int = 10,
        threshold: float = 0.8) -> Capture:
    """Cut ``box`` (template space) out of ``frame`` (device BGR of ``space``'s device size) as template ``name``.

    Raises:
        TemplateRegistryError: a name a registry cannot hold (field ``name``), a box outside the window or in the
            title bar (field ``box``), a negative margin or a threshold outside (0, 1].
    """
    if not _NAME.match(name):
        raise TemplateRegistryError(f"{name!r}: letters, digits, _ . | - only", field="name")
    if margin < 0 or not 0 < threshold <= 1:
        raise TemplateRegistryError(f"margin {margin} must be >= 0 and threshold {threshold} in (0, 1]",
                                    field="margin")
    if box.x1 < 0 or box.x2 > space.width or box.y1 < space.title_bar or box.y2 > space.height:
        raise TemplateRegistryError(f"box {box.as_tuple()} leaves the {space.width}×{space.height} window's board "
                                    f"(y from {space.title_bar})", field="box")
    try:
        image = space.frame_region_to_space(frame, box)
    except ValueError as exc:
        raise TemplateRegistryError(str(exc), field="box") from None
    region = Region(max(0, box.x1 - margin), max(space.title_bar, box.y1 - margin), min(space.width, box.x2 + margin),
                    min(space.height, box.y2 + margin))
    return Capture(name, image, box, region, threshold)


def verdict(capture: Capture, frame: np.ndarray, space: CoordinateSpace, label: str = "current screen",
            *, region: bool = True) -> Verdict:
    """Match ``capture`` on ``frame``: in its search region (``region``), or over the whole board.

    Raises:
        VisionError: the frame does not fit ``space``.
    """
    template = capture.template()
    result = match(Screen(frame, space), template, space=space, threshold=0.01,
                   region=capture.region if region else space.board)
    best = result.candidates[0] if result.candidates else None
    second = result.candidates[1] if len(result.candidates) > 1 else None
    return Verdict(label, best is not None and best.score >= capture.threshold, best.score if best else 0.0,
                   best.device_center if best else None, second.score if second else None)


def warnings(capture: Capture, templates: TemplateSet, frames: list[tuple[str, np.ndarray]]) -> list[Finding]:
    """The linter on the capture: its own checks, ambiguity over the whole board of each frame (another distinct
    place at or above the threshold), and templates whose search region overlaps the capture's with a similar
    image (their score on the capture's crop ≥ 0.8)."""
    template = capture.template()
    out = lint_template(template)
    for label, frame in frames:
        try:
            seen = verdict(capture, frame, templates.space, label, region=False)
        except VisionError as exc:
            out.append(Finding(capture.name, "error", f"{label}: {exc}"))
            continue
        if seen.runner_up is not None and seen.runner_up >= capture.threshold:
            out.append(Finding(capture.name, "ambiguous", f"{label}: a second place scores {seen.runner_up:.3f} "
                                                          f"outside its region"))
    for other in templates:
        if other.region is None or not _overlap(other.region, capture.region):
            continue
        h, w = capture.image.shape[:2]
        oh, ow = other.image.shape[:2]
        if oh > h or ow > w:
            continue
        score = float(cv2.matchTemplate(capture.image, np.ascontiguousarray(other.image), cv2.TM_CCOEFF_NORMED).max())
        if score >= 0.8:
            out.append(Finding(capture.name, "overlapping", f"its region overlaps {other.name}'s, whose image scores "
                                                            f"{score:.2f} on it: one may be taken for the other"))
    return out


@dataclass(frozen=True, slots=True)
class Judged:
    """A candidate template with the matcher's verdicts (the first on the frame it was cut from) and the linter's
    warnings: what ``templates capture`` and the console's capture show before saving."""

    capture: Capture
    verdicts: list[Verdict]
    warnings: list[Finding]

    @property
    def found(self) -> bool:
        """Found on the frame it was cut from."""
        return self.verdicts[0].found


def judge(templates: TemplateSet, frame: np.ndarray, box: Region, *, name: str, device_units: bool = True,
          margin: int = 10, threshold: float = 0.8, screens: list[tuple[str, np.ndarray]] | None = None) -> Judged:
    """Cut ``box`` (device px of ``frame`` when ``device_units``, else the set's space) out of ``frame`` (device BGR
    of any size: the set's space is fitted to it) as template ``name``, and judge it on ``frame`` and on each of
    ``screens`` (label, device BGR).

    Raises:
        InputError: a bad name, box, margin or threshold. VisionError: a frame that is not a BGR image.
    """
    space = templates.space
    if frame.shape[:2] != (space.device_height, space.device_width):
        space = space.for_device(frame.shape[1], frame.shape[0])
    made = cut(frame, space, space.region_from_device(box) if device_units else box, name=name, margin=margin,
               threshold=threshold)
    shots = list(screens or [])
    seen = [verdict(made, frame, space)] + [verdict(made, shot, space.for_device(shot.shape[1], shot.shape[0]), label)
                                            for label, shot in shots]
    return Judged(made, seen, warnings(made, templates, [("current screen", frame), *shots]))


def _overlap(a: Region, b: Region) -> bool:
    return a.x1 < b.x2 and b.x1 < a.x2 and a.y1 < b.y2 and b.y1 < a.y2


def save(capture: Capture, registry: Path, *, overwrite: bool = False) -> Path:
    """Add ``capture`` to the registry file ``registry``: its PNG into the registry's images folder, one entry line
    at the end of its ``templates:`` list; the new file is loaded (checked) before it replaces the old. Returns
    the PNG's path.

    Raises:
        TemplateRegistryError: the name is taken (entry or file) without ``overwrite``, the registry has no
            ``templates:`` list, or the new file does not load (nothing is written then).
        OSError: a file cannot be written.
    """
    import yaml

    text = registry.read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    names = {str(e.get("name")) for e in data.get("templates") or [] if isinstance(e, dict)}
    if capture.name in names and not overwrite:
        raise TemplateRegistryError(f"template {capture.name!r} already exists", file=registry, field="name")
    images = registry.parent / str(data.get("images") or ".")
    png = images / f"{capture.name}.png"
    if png.exists() and not overwrite:
        raise TemplateRegistryError(f"{png} already exists", file=registry, field="name")
    r = capture.region
    entry = (f"{{name: {capture.name}, path: {capture.name}.png, threshold: {capture.threshold:g}, "
             f"region: {{x1: {r.x1}, y1: {r.y1}, x2: {r.x2}, y2: {r.y2}}}}}")
    new = _insert_entry(text, entry, registry)
    images.mkdir(parents=True, exist_ok=True)
    ok, encoded = cv2.imencode(".png", capture.image)
    if not ok:
        raise OSError(f"could not encode {png}")
    existed = png.exists()
    write_atomic(png, encoded.tobytes())
    candidate = registry.with_name(f".{registry.name}.new")
    write_atomic(candidate, new)
    try:
        TemplateSet.load(candidate, images=images)
    except TemplateRegistryError:
        candidate.unlink(missing_ok=True)
        if not existed:
            png.unlink(missing_ok=True)
        raise
    candidate.replace(registry)
    return png


def _insert_entry(text: str, entry: str, registry: Path) -> str:
    """``text`` with ``- entry`` after the last item of its top-level ``templates:`` list, indented as they are."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^templates:\s*(#.*)?$", line)), None)
    if start is None:
        raise TemplateRegistryError("no block 'templates:' list to add to", file=registry, field="templates")
    end, indent = start + 1, "  "
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and not line[0].isspace() and not line.startswith("#") and not line.startswith("-"):
            break  # the next top-level key
        item = re.match(r"^(\s*)- ", line)
        if item:
            indent = item.group(1)
        if line.strip() and not line.lstrip().startswith("#"):
            end = i + 1
    if end > 0 and not lines[end - 1].endswith("\n"):
        lines[end - 1] += "\n"
    lines.insert(end, f"{indent}- {entry}\n")
    return "".join(lines)
