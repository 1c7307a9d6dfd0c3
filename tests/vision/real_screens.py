"""The development set of real game screens (``../shared/real-screens``, read in place): needles, pairs, negatives.

Each needle source (a public bot's needle folder) is a template set with its capture geometry declared as a
registry header would declare it (README of the folder: native frame, scale spread); a screen of another aspect
ratio gets the same geometry with square pixels (:meth:`CoordinateSpace.for_device`). Ground truth:

* ``pairs.tsv``: needle → screen pairs checked by eye, ``box_in_screen`` in screen px; rows whose note says
  "not an independent pair" were cut from that very capture and are left out of the counts;
* negatives: the 14 low-texture PTCGPB needles of ``negatives/`` on every 9:16 screen (they have no pair there).

Run ``.venv/bin/python -m tests.vision.real_screens`` for the per-pair table (also the benchmark's input).
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from emufleet.settings import real_screens_dir
from emufleet.vision import CoordinateSpace, Template, TemplateSet
from emufleet.vision.space import Region

__all__ = ["SOURCES", "DevSet", "Pair", "load_dev_set", "opencv_sweep"]

# Each source's declared geometry (the folder's README): window, title bar, and how far its crops spread in scale.
SOURCES: dict[str, dict[str, Any]] = {
    "AdriaGual__pokemon-pocket-bot": {"coordinate_space": {"width": 900, "height": 1600, "title_bar": 0}},
    "grey404nf__PTCGP-Automation": {"coordinate_space": {"width": 1080, "height": 1920, "title_bar": 0}},
    # MuMu's game area at 277 px under a 45-px title bar; its crops peaked at frame widths 265-298 (-4 % … +8 %).
    "kevnITG__PTCGPB": {"coordinate_space": {"width": 277, "height": 534, "title_bar": 45}, "scale_tolerance": 0.08},
    "ngowonder__Auto-Pokemon-TCGP": {"coordinate_space": {"width": 506, "height": 900, "title_bar": 0}},
    "vki1024gs__MaaPTCGP": {"coordinate_space": {"width": 720, "height": 1280, "title_bar": 0}},
}
TOLERANCE_PX = 4  # a found centre may be this many screen px (or 10 % of the box) from the checked one


@dataclass(frozen=True)
class Pair:
    screen: str
    needle: str
    box: Region  # in screen px
    independent: bool


@dataclass(eq=False)
class DevSet:
    root: Path
    pairs: list[Pair]
    negatives: list[str]  # needle names (negatives/)
    screens: list[str]

    def source(self, needle: str) -> str:
        return needle.split("__")[0] + "__" + needle.split("__")[1]

    @functools.cache  # noqa: B019 - one dev set per process
    def screen(self, name: str) -> np.ndarray:
        image = cv2.imread(str(self.root / "screens" / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(self.root / "screens" / name)
        image.setflags(write=False)
        return image

    def wide(self, name: str) -> bool:
        """A 9:16 screen (the negatives' screens)."""
        h, w = self.screen(name).shape[:2]
        return abs(h / w - 16 / 9) < 0.01

    @functools.cache  # noqa: B019
    def template_set(self, source: str, folder: str, device: tuple[int, int]) -> TemplateSet:
        """Every image of ``folder`` (needles/ or negatives/) of ``source`` as a set over a ``device`` (w, h) screen."""
        header = dict(SOURCES[source])
        base = CoordinateSpace(**header["coordinate_space"], device_width=header["coordinate_space"]["width"],
                               device_height=header["coordinate_space"]["height"] - header["coordinate_space"][
                                   "title_bar"])
        space = base.for_device(*device)
        header["coordinate_space"] = {"width": space.width, "height": space.height, "title_bar": space.title_bar,
                                      "device_width": space.device_width, "device_height": space.device_height}
        entries = [{"name": p.name, "path": p.name} for p in sorted((self.root / folder).iterdir())
                   if p.name.startswith(source + "__")]
        return TemplateSet.from_data([(self.root / folder / "registry.yaml", {**header, "templates": entries})],
                                     images=self.root / folder)

    def template(self, needle: str, device: tuple[int, int], folder: str = "needles") -> tuple[Template,
                                                                                                 CoordinateSpace]:
        ts = self.template_set(self.source(needle), folder, device)
        return ts.get(needle), ts.space


def load_dev_set(root: Path | None = None) -> DevSet:
    root = root or real_screens_dir()
    with (root / "pairs.tsv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    pairs = []
    for row in rows:
        x, y, w, h = (int(v) for v in row["box_in_screen"].split(","))
        pairs.append(Pair(row["screen"], row["needle"], Region(x, y, x + w, y + h),
                          "not an independent pair" not in row["note"]))
    screens = sorted(p.name for p in (root / "screens").iterdir() if p.suffix.lower() == ".png")
    negatives = sorted(p.name for p in (root / "negatives").iterdir() if p.suffix.lower() in (".png", ".jpg"))
    return DevSet(root, pairs, negatives, screens)


def at_truth(center: tuple[float, float], box: Region) -> bool:
    """Whether ``center`` (screen px) is within the tolerance of ``box``'s centre."""
    cx, cy = (box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2
    return (abs(center[0] - cx) <= max(TOLERANCE_PX, 0.1 * box.width)
            and abs(center[1] - cy) <= max(TOLERANCE_PX, 0.1 * box.height))


def opencv_sweep(screen: np.ndarray, template: Template, space: CoordinateSpace, sweep: float = 0.10,
                 threshold: float = 0.8) -> tuple[float, tuple[float, float]] | None:
    """Plain OpenCV as the dev set's pairs were screened: the screen resized to the set's board divided by every
    scale within ±``sweep`` of the template's (2 % steps), ``TM_CCOEFF_NORMED`` of the needle at its native size
    (mask when it has one), the best kept if ≥ ``threshold``.

    Returns ``(score, centre in screen px)`` or ``None``.
    """
    best: tuple[float, tuple[float, float]] | None = None
    w, h = template.size
    steps = round(sweep / 0.02)
    for k in range(-steps, steps + 1):
        s = template.scale * (1 + 0.02 * k)
        size = (round(space.width / s), round(space.board_height / s))
        if w > size[0] or h > size[1]:
            continue
        board = cv2.resize(screen, size, interpolation=cv2.INTER_AREA)
        scores = np.nan_to_num(cv2.matchTemplate(board, template.image, cv2.TM_CCOEFF_NORMED, mask=template.mask),
                               nan=0.0, posinf=0.0, neginf=0.0)
        _, value, _, (x, y) = cv2.minMaxLoc(scores)
        if best is None or value > best[0]:
            fx, fy = screen.shape[1] / size[0], screen.shape[0] / size[1]
            best = (float(value), ((x + w / 2) * fx, (y + h / 2) * fy))
    return best if best is not None and best[0] >= threshold else None
