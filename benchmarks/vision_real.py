"""Vision on real screens: recognition against plain OpenCV, and cost against one bare ``cv2.matchTemplate``.

Reads the dev set of ``../shared/real-screens`` in place (``EMUFLEET_REAL_SCREENS``; see
``tests/vision/real_screens.py`` for each needle source's declared geometry).

1. **Recognition**, :func:`emufleet.vision.match` at its defaults over the whole screen versus plain OpenCV
   (``TM_CCOEFF_NORMED`` ≥ 0.8, the screen resized to the set's board at every scale within ±10 %):
   the 75 independent checked pairs found at the checked place, and the 168 negatives (14 low-texture needles ×
   12 9:16 screens where they are absent) reported found.
2. **Cost**, median ms per call over the pairs (each source's board already mapped for both sides: a bot maps a
   frame once for every template it checks):

   * ``frame``: ``match()`` over the whole board versus one bare ``cv2.matchTemplate`` of the needle over the
     board (native size, no sweep, no verification);
   * ``region``: a region around the checked place (the needle's box grown by half its size, + 8 px), once on
     the pair's screen (*found*) and once on another screen of the same size without it (*not found*), versus
     one bare ``cv2.matchTemplate`` over the same region.

   Ratios are the median over cases of (ours / bare), each side the median of ``--repeat`` rounds in which the
   compared calls run in turn (a load spike of the shared machine hits them alike).

Usage: ``.venv/bin/python benchmarks/vision_real.py [--repeat N]``. The last line is
``pairs_found=F/N false_found=F/N region_cost_ratio=X frame_cost_ratio=Y`` (targets: ≥ 74/75, 0/168, ≤ 2, ≤ 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import cv2
from harness import interleaved_median_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.vision.real_screens: the dev set's reader

from emufleet.settings import real_screens_dir  # noqa: E402
from emufleet.vision import Region, Screen, match  # noqa: E402
from tests.vision.real_screens import DevSet, at_truth, load_dev_set, opencv_sweep  # noqa: E402


def recognition(dev: DevSet) -> tuple[int, int, int, int, int, int]:
    """(ours found, opencv found, pairs, ours false, opencv false, negatives)."""
    pairs = [p for p in dev.pairs if p.independent]
    ours = plain = 0
    for p in pairs:
        screen = dev.screen(p.screen)
        t, space = dev.template(p.needle, (screen.shape[1], screen.shape[0]))
        r = match(screen, t, space=space)
        ours += r.best is not None and at_truth(r.best.device_center, p.box)
        o = opencv_sweep(screen, t, space)
        plain += o is not None and at_truth(o[1], p.box)
    false = plain_false = count = 0
    for name in (s for s in dev.screens if dev.wide(s)):
        screen = dev.screen(name)
        for needle in dev.negatives:
            t, space = dev.template(needle, (screen.shape[1], screen.shape[0]), "negatives")
            count += 1
            false += match(screen, t, space=space).found
            plain_false += opencv_sweep(screen, t, space) is not None
    return ours, plain, len(pairs), false, plain_false, count


def costs(dev: DevSet, repeat: int) -> dict[str, list[float]]:
    """Per case ours/bare ratios: ``frame``, ``found`` (region), ``absent`` (region); each case's calls are
    interleaved (:func:`harness.interleaved_median_ms`)."""
    out: dict[str, list[float]] = {"frame": [], "found": [], "absent": []}
    seen = set()
    for p in (p for p in dev.pairs if p.independent):
        screen = dev.screen(p.screen)
        size = (screen.shape[1], screen.shape[0])
        if (p.needle, size) in seen:
            continue
        seen.add((p.needle, size))
        t, space = dev.template(p.needle, size)
        prepared = Screen(screen, space)
        board = prepared.window
        bare_frame, ours_frame = interleaved_median_ms([
            lambda b=board[space.title_bar:], t=t: cv2.matchTemplate(b, t.image, cv2.TM_CCOEFF_NORMED, mask=t.mask),
            lambda s=prepared, t=t, sp=space: match(s, t, space=sp)], max(5, repeat // 3))
        out["frame"].append(ours_frame / bare_frame)
        box = space.region_from_device(p.box)
        w, h = t.size
        region = Region(box.x1 - w // 2 - 8, box.y1 - h // 2 - 8, box.x2 + w // 2 + 8,
                        box.y2 + h // 2 + 8).clip(space.width, space.height)
        assert region is not None
        other = next((s for s in dev.screens if s != p.screen and dev.screen(s).shape == screen.shape
                      and not any(q.screen == s and q.needle == p.needle for q in dev.pairs)), None)
        calls = [lambda b=board, r=region, t=t: cv2.matchTemplate(b[r.y1:r.y2, r.x1:r.x2], t.image,
                                                                  cv2.TM_CCOEFF_NORMED, mask=t.mask),
                 lambda s=prepared, t=t, sp=space, r=region: match(s, t, space=sp, region=r)]
        if other is not None:
            absent = Screen(dev.screen(other), space)
            _ = absent.window
            calls.append(lambda s=absent, t=t, sp=space, r=region: match(s, t, space=sp, region=r))
        bare, *ours = interleaved_median_ms(calls, repeat)
        out["found"].append(ours[0] / bare)
        if other is not None:
            out["absent"].append(ours[1] / bare)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed rounds per region case (a third for the "
                        "whole board)")
    args = parser.parse_args()
    root = real_screens_dir()
    if not (root / "pairs.tsv").is_file():
        sys.exit(f"real screens not found at {root} (set EMUFLEET_REAL_SCREENS)")
    dev = load_dev_set(root)
    ours, plain, pairs, false, plain_false, negatives = recognition(dev)
    print(f"pairs found: emufleet {ours}/{pairs}, plain OpenCV ±10 % {plain}/{pairs}")
    print(f"negatives reported found: emufleet {false}/{negatives}, plain OpenCV ±10 % {plain_false}/{negatives}")
    ratios = costs(dev, args.repeat)
    for key, label in (("frame", "whole board"), ("found", "region, found"), ("absent", "region, not found")):
        values = sorted(ratios[key])
        print(f"{label}: {len(values)} cases, ours / bare matchTemplate median {statistics.median(values):.2f}× "
              f"(p10 {values[len(values) // 10]:.2f}×, p90 {values[len(values) * 9 // 10]:.2f}×)")
    region = statistics.median(ratios["found"] + ratios["absent"])
    region_worst = max(statistics.median(ratios["found"]), statistics.median(ratios["absent"]))
    print(f"region: found and not found together {region:.2f}×, the worse of the two {region_worst:.2f}×")
    print(f"pairs_found={ours}/{pairs} false_found={false}/{negatives} region_cost_ratio={region_worst:.2f} "
          f"frame_cost_ratio={statistics.median(ratios['frame']):.2f}")


if __name__ == "__main__":
    main()
