"""Template matching speed: emufleet's verified matcher versus the seed's brute-force SAD, measured in one run.

1. **Match**: every template of the seed's registry (digest §4.1; read in place from the seed assets) is drawn on a
   busy 540×960 frame as the simulator draws overlays; per template, the median ms of

   * ``emufleet``: :func:`emufleet.vision.match` with its defaults (verified CCOEFF, ±4 % scale sweep, both
     resolutions), inside the template's region and over the whole board;
   * ``seed SAD``: the seed's algorithm (digest §4.3) in numpy — at every offset of the search area
     ``1 − Σ|Δ|/(n·255)`` over the full template, best offset kept (brute force) — on the frame the seed saw: the
     window-scale capture. The seed captured the MuMu window directly, so the baseline is handed the frame
     already mapped to window scale (``frame_to_space``, outside its timing); emufleet is handed the device
     frame and pays any mapping it needs inside its timing. The ``map`` column is that mapping's median, for
     reference (runs before 2026-11-22 charged it to the baseline).

   ``match_speedup`` = Σ seed medians / Σ emufleet medians over all (template, area) pairs.
2. **Rounds**: recognition rounds per second (screenshot + match of the demo set's ``Main`` in its region) against
   an in-process :class:`emufleet.sim.Simulator` through a real adb server (isolated port and ``HOME``) and
   :class:`emufleet.device.Device`.

Usage: ``.venv/bin/python benchmarks/vision.py [--repeat N] [--rounds N]``.
The last line is ``match_speedup=<float> rounds_per_s=<float>`` (targets ≥ 50 and ≥ 30).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from harness import median_ms, simulator_behind_adb

from emufleet.device import Device
from emufleet.settings import data_dir, seed_assets_dir
from emufleet.vision import CoordinateSpace, Region, Screen, Template, TemplateSet, match, synth
from emufleet.vision.seed import build_seed_registry

SPACE = CoordinateSpace()


def seed_sad(capture: np.ndarray, template: Template, area: Region) -> tuple[float, tuple[int, int]]:
    """The seed's matcher (digest §4.3): brute-force SAD at every offset of ``area`` (window px), best kept.

    ``capture``: the window-scale capture the seed matched on, (height, width, 3) uint8 BGR.
    """
    window = capture[area.y1: area.y2, area.x1: area.x2].astype(np.int16)  # only the searched pixels
    tpl = template.image.astype(np.int16)
    h, w = tpl.shape[:2]
    denominator = float(tpl.size * 255)
    best, where = -1.0, (0, 0)
    for y in range(area.height - h + 1):
        for x in range(area.width - w + 1):
            score = 1.0 - float(np.abs(window[y: y + h, x: x + w] - tpl).sum()) / denominator
            if score > best:
                best, where = score, (x + area.x1, y + area.y1)
    return best, where


def bench_match(seed_templates: Path, repeat: int) -> tuple[float, float]:
    """Print the per-template table; return (Σ seed ms, Σ emufleet ms)."""
    registered = set(TemplateSet.load(seed_templates).names)
    ts = build_seed_registry(seed_templates)
    rng = np.random.default_rng(1)
    rows = []
    for t in (t for t in ts if t.name in registered):
        frame = SPACE.space_to_frame(synth.busy_window(rng, SPACE))
        area = t.region or SPACE.board
        w, h = t.size
        spot = (int(rng.integers(area.x1, area.x2 - w + 1)), int(rng.integers(area.y1, area.y2 - h + 1)))
        synth.paste_template(frame, t, spot, SPACE)
        capture = SPACE.frame_to_space(frame)  # what the seed captured: the window (not timed for the baseline)
        map_ms = median_ms(lambda f=frame: SPACE.frame_to_space(f), repeat)
        cases = [("board", SPACE.board)] if t.region is None else [("region", t.region), ("board", SPACE.board)]
        for label, region in cases:
            ours = median_ms(lambda f=frame, t=t, r=region: match(f, t, space=SPACE, region=r), repeat)
            # Whole-board brute force takes seconds per call: fewer repeats, same median.
            seed_repeat = repeat if label == "region" else max(1, repeat // 5)
            seed = median_ms(lambda c=capture, t=t, r=region: seed_sad(c, t, r), seed_repeat)
            rows.append((t.name, label, t.size, seed, ours, map_ms))
    print(f"median ms per match, busy 540×960 frame, {repeat} calls (whole board: seed {max(1, repeat // 5)})")
    print("seed SAD: on the window-scale capture, as the seed captured it (mapping not timed); emufleet: on the "
          "device frame, mapping included; map: frame_to_space of the whole frame, for reference")
    print(f"{'template':<14}{'area':<8}{'size':>8}{'seed SAD':>11}{'map':>7}{'emufleet':>10}{'speedup':>9}")
    for name, label, (w, h), seed, ours, map_ms in rows:
        print(f"{name:<14}{label:<8}{f'{w}×{h}':>8}{seed:>11.2f}{map_ms:>7.2f}{ours:>10.2f}{seed / ours:>8.1f}x")
    for label in ("region", "board"):
        sel = [r for r in rows if r[1] == label]
        seed_sum, ours_sum, map_sum = (sum(r[i] for r in sel) for i in (3, 4, 5))
        print(f"{label}: Σ seed {seed_sum:.1f} ms, Σ emufleet {ours_sum:.1f} ms, speedup {seed_sum / ours_sum:.1f}x "
              f"(with the mapping charged to the seed too: {(seed_sum + map_sum) / ours_sum:.1f}x)")
    return sum(r[3] for r in rows), sum(r[4] for r in rows)


def bench_rounds(rounds: int) -> float:
    """Recognition rounds per second against the simulator (screenshot + match)."""
    ts = TemplateSet.load(data_dir("templates") / "registry.yaml")
    main_tpl = ts.get("Main")
    with simulator_behind_adb() as (_, sim):
        inst = sim.instances[0]
        dev = Device(inst.serial)
        dev.connect(15)
        dev.wait_ready(30)
        inst.set_state("home_ready")
        capture_ms = median_ms(dev.screenshot, min(rounds, 20))
        found = 0
        start = time.perf_counter()
        for _ in range(rounds):
            found += match(Screen(dev.screenshot(), ts.space), main_tpl, space=ts.space).found
        elapsed = time.perf_counter() - start
    print(f"rounds: {rounds} × (screenshot + match Main) in {elapsed:.2f} s, found {found}/{rounds}; "
          f"screenshot alone {capture_ms:.1f} ms")
    return rounds / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed calls per match case")
    parser.add_argument("--rounds", type=int, default=100, help="recognition rounds against the simulator")
    args = parser.parse_args()
    seed_templates = seed_assets_dir() / "templates"
    if not (seed_templates / "images").is_dir():
        sys.exit(f"seed assets not found at {seed_templates} (set EMUFLEET_SEED_ASSETS)")
    seed_ms, ours_ms = bench_match(seed_templates, args.repeat)
    rounds_per_s = bench_rounds(args.rounds)
    print(f"match_speedup={seed_ms / ours_ms:.2f} rounds_per_s={rounds_per_s:.2f}")


if __name__ == "__main__":
    main()
