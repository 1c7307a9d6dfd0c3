"""Calibration of the match method and threshold: regenerates the table of docs/vision.md.

Every seed template (digest §4.2) is drawn on simulator-like device frames (:func:`synth.paste_template`, as the
simulator's scenario overlays are drawn) over a plain and a busy background, and once 97–103 % off-scale; busy
frames without it (panels, borders, gradients, text, noise, the whole board rescaled 97–103 %) are the negatives.
Each method searches the template's region (or, for region-less templates, a window of ±24 template px around
the placement, the same on the negatives) through :func:`emufleet.vision.match`.

* true-positive score: the best candidate within ±2 device px of where the template was drawn;
* false-positive score: the best candidate anywhere else — on the negatives and on the positives' frames.

Run: ``.venv/bin/python -m tests.vision.calibration [--seed N]`` (a few minutes; prints Markdown).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from emufleet.settings import seed_assets_dir
from emufleet.vision import CoordinateSpace, Matcher, Region, Template, TemplateSet, match, synth
from emufleet.vision.matchers import MATCHERS
from emufleet.vision.matchers.ccoeff import ccoeff_scores, is_flat
from emufleet.vision.matchers.ccorr import ccorr_scores
from emufleet.vision.matchers.sad import sad_scores
from emufleet.vision.matchers.sqdiff import sqdiff_scores
from emufleet.vision.seed import build_seed_registry
from emufleet.vision.verify import colour_scores

SPACE = CoordinateSpace()
FREE_WINDOW = 24  # template px around a region-less template's placement


def _with_colour(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def scores(image: np.ndarray, template: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        return np.minimum(fn(image, template, mask), colour_scores(image, template, mask))

    return scores


@dataclass(frozen=True)
class Method:
    label: str
    matcher: Matcher
    resolution: str = "auto"
    scale_tolerance: float = 0.04


DEFAULT_LABEL = "CCOEFF_NORMED + contrast + colour (**default**)"
METHODS = (
    # SAD runs as the seed ran it (window scale, no scale sweep): in numpy it is too slow for the device grid.
    Method("SAD (the seed's: window scale, no sweep)", MATCHERS["sad"], "template", 0.0),
    Method("SAD + colour (window scale, no sweep)", Matcher("sad_colour", _with_colour(sad_scores), 0.8, ""),
           "template", 0.0),
    Method("SQDIFF_NORMED", MATCHERS["sqdiff"]),
    Method("SQDIFF_NORMED + colour", Matcher("sqdiff_colour", _with_colour(sqdiff_scores), 0.97, "")),
    Method("CCORR_NORMED", MATCHERS["ccorr"]),
    Method("CCORR_NORMED + colour", Matcher("ccorr_colour", _with_colour(ccorr_scores), 0.98, "")),
    Method("CCOEFF_NORMED", MATCHERS["ccoeff_raw"]),
    Method("CCOEFF_NORMED + colour", Matcher("ccoeff_colour", _with_colour(ccoeff_scores), 0.9, "")),
    Method(DEFAULT_LABEL, MATCHERS["ccoeff"]),
    Method("default, template space only", MATCHERS["ccoeff"], "template"),
    Method("default, device grid only", MATCHERS["ccoeff"], "device"),
)


@dataclass
class Case:
    template: Template
    frame: np.ndarray
    area: Region
    truth: tuple[int, int] | None  # device top-left where it was drawn; None on a negative


@dataclass
class Scores:
    tp: list[tuple[float, str]] = field(default_factory=list)
    fp: list[tuple[float, str]] = field(default_factory=list)


def degenerate(t: Template) -> bool:
    """Flat (one colour) or at most 2 px thin: nothing but its colour can identify it."""
    return is_flat(t.image, t.mask) or min(t.size) <= 2


def cases(ts: TemplateSet, rng: np.random.Generator) -> Iterator[Case]:
    """Three positives and two negatives per template."""
    for t in ts:
        w, h = t.size
        board = SPACE.board
        if t.region is not None:
            span = t.region
        else:
            x, y = int(rng.integers(board.x1, board.x2 - w)), int(rng.integers(board.y1, board.y2 - h))
            grown = Region(x, y, x + w, y + h).expand(FREE_WINDOW)
            span = Region(max(grown.x1, board.x1), max(grown.y1, board.y1), min(grown.x2, board.x2),
                          min(grown.y2, board.y2))
        for kind in ("plain", "busy", "scaled"):
            window = synth.plain_window(rng, SPACE) if kind == "plain" else synth.busy_window(rng, SPACE)
            frame = SPACE.space_to_frame(window)
            scale = float(rng.choice([0.97, 0.98, 1.02, 1.03])) if kind == "scaled" else 1.0
            x = int(rng.integers(span.x1, max(span.x1, span.x2 - round(w * max(scale, 1.0))) + 1))
            y = int(rng.integers(span.y1, max(span.y1, span.y2 - round(h * max(scale, 1.0))) + 1))
            yield Case(t, frame, span, synth.paste_template(frame, t, (x, y), SPACE, scale))
        for _ in range(2):
            window = synth.rescale_window(synth.busy_window(rng, SPACE), float(rng.uniform(0.97, 1.03)), SPACE)
            yield Case(t, SPACE.space_to_frame(window), span, None)


def evaluate(all_cases: list[Case], methods: tuple[Method, ...] = METHODS) -> dict[str, Scores]:
    """Per method label: true-positive and false-positive scores (with the template name)."""
    out: dict[str, Scores] = {m.label: Scores() for m in methods}
    for case in all_cases:
        for m in methods:
            res = match(case.frame, case.template, space=SPACE, region=case.area, method=m.matcher, threshold=0.0,
                        resolution=m.resolution, scale_tolerance=m.scale_tolerance)  # type: ignore[arg-type]
            hit, miss = 0.0, 0.0
            for c in res.candidates:
                dx, dy = c.device_top_left
                at_truth = case.truth is not None and abs(dx - case.truth[0]) <= 2 and abs(dy - case.truth[1]) <= 2
                if at_truth:
                    hit = max(hit, c.score)
                else:
                    miss = max(miss, c.score)
            if case.truth is not None:
                out[m.label].tp.append((hit, case.template.name))
            out[m.label].fp.append((miss, case.template.name))
    return out


def table(results: dict[str, Scores], keep: Callable[[str], bool], thresholds: dict[str, float]) -> str:
    """Markdown rows: lowest TP, highest FP, margin, and error rates at the method's threshold."""
    lines = ["| method | lowest TP | highest FP | margin | threshold | TP missed | FP accepted |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label, s in results.items():
        tp = np.array([v for v, n in s.tp if keep(n)])
        fp = np.array([v for v, n in s.fp if keep(n)])
        th = thresholds[label]
        lines.append(f"| {label} | {tp.min():.3f} | {fp.max():.3f} | {tp.min() - fp.max():+.3f} | {th:g} | "
                     f"{(tp < th).mean():.1%} | {(fp >= th).mean():.1%} |")
    return "\n".join(lines)


DEMO_VISIBLE = {  # docs/demo-game.md: the templates each demo screen shows
    "launcher": {"AppIcon"}, "splash": {"Splash"}, "title": {"Title", "TapToStart"},
    "title_no_response": {"Title", "TapToStart", "NoResponse", "OK"}, "welcome": {"Welcome", "OK"},
    "home_ready": {"Main", "Pack", "Missions", "Menu"}, "home_notice": {"Main", "Pack", "Missions", "Menu", "OK"},
    "home_error": {"Main", "Pack", "Missions", "Menu", "Error", "Retry"}, "menu": {"Back"},
    "missions": {"Back", "Claim"}, "missions_claimed": {"Back", "Claim", "Complete", "OK"},
    "pack_select": {"Back", "OpenPack"}, "pack_opening": set(), "pack_result": {"Next"},
}


def demo_table() -> str:
    """The default matcher per resolution on the simulator's demo screens (drawn at device resolution, templates
    cut from their window-scale downscale — the way real captures and the seed's crops relate)."""
    from emufleet.settings import data_dir
    from emufleet.sim import load_scenario
    from emufleet.sim.render import Renderer

    ts = TemplateSet.load(data_dir("templates") / "registry.yaml")
    renderer = Renderer(load_scenario("demo"))
    lines = ["| resolution | lowest TP | highest FP | margin |", "|---|---:|---:|---:|"]
    for resolution in ("auto", "template", "device"):
        tp, fp = [], []
        for state, visible in DEMO_VISIBLE.items():
            frame = renderer.frame(state).bgr
            for t in ts:
                score = match(frame, t, space=ts.space, resolution=resolution).score  # type: ignore[arg-type]
                (tp if t.name in visible else fp).append(score)
        lines.append(f"| {resolution} | {min(tp):.3f} | {max(fp):.3f} | {min(tp) - max(fp):+.3f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()
    started = time.perf_counter()
    ts = build_seed_registry(seed_assets_dir() / "templates")
    all_cases = list(cases(ts, np.random.default_rng(args.seed)))
    results = evaluate(all_cases)
    weak = sorted({t.name for t in ts if degenerate(t)})
    thresholds = {m.label: m.matcher.default_threshold for m in METHODS}
    n_tp = sum(c.truth is not None for c in all_cases)
    print(f"{len(ts)} templates, {n_tp} positive and {len(all_cases) - n_tp} negative frames, "
          f"seed {args.seed}, {time.perf_counter() - started:.0f} s\n")
    print(f"**{len(ts) - len(weak)} templates with shape** (not flat, both sides ≥ 3 px):\n")
    print(table(results, lambda n: n not in weak, thresholds))
    print(f"\n**All {len(ts)} templates**, including the {len(weak)} flat or ≤ 2-px ones:\n")
    print(table(results, lambda n: True, thresholds))
    print(f"\nFlat or ≤ 2-px templates ({len(weak)}): {', '.join(weak)}")
    default = results[DEFAULT_LABEL]
    worst = sorted((v, n) for v, n in default.tp if n not in weak)[:5]
    print(f"\nDefault, lowest true positives: {', '.join(f'{n} {v:.3f}' for v, n in worst)}")
    worst_fp = sorted(((v, n) for v, n in default.fp if n not in weak), reverse=True)[:5]
    print(f"Default, highest false positives: {', '.join(f'{n} {v:.3f}' for v, n in worst_fp)}")
    print("\n**Demo screens** (docs/demo-game.md), default matcher:\n")
    print(demo_table())


if __name__ == "__main__":
    main()
