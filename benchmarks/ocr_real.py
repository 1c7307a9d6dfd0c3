"""Reading text on real screens: emufleet's OCR recognizer against the bare library, on the same crops, one run.

Reads ``text.tsv`` of ``../shared/real-screens`` in place (``EMUFLEET_REAL_SCREENS``): 81 text lines read by eye on
the 12 larger dev screens (``screen text lang kind x1 y1 x2 y2``, native pixels). Per line:

* **ours**: :func:`emufleet.vision.recognizers.read_image` on the screen with the line's box (``layout="auto"``:
  these line-sized boxes take the recognition-only path), the text normalised for the line's language;
* **bare**: ``rapidocr.RapidOCR()`` (its defaults, a separate instance) called with recognition alone on
  ``img[y1:y2, x1:x2]`` — what a user of the library writes;
* for comparison, both through **detection first** (ours ``layout="block"``, bare ``use_det=True``) on the same
  crops, and the **large-region path**: each screen read whole once (detection + recognition), a line counting as
  found when a line read there contains it and overlaps its box.

Scoring as the folder's README says: exact when equal after NFKC and whitespace normalisation (collapsed for
``en``, removed for ``ja``/``zh``); CER = total edit distance / total characters of the truth (normalised).
Cost: per line, the median of ``--repeat`` interleaved rounds (:func:`harness.interleaved_median_ms`) of the two
calls; ``ocr_cost_ratio`` is the median over lines of ours / bare. The engine is loaded before timing.

Usage: ``.venv/bin/python benchmarks/ocr_real.py [--repeat N]``. Last line:
``ocr_exact=… ocr_bare_exact=… ocr_cer=… ocr_ms=… ocr_cost_ratio=…`` (targets: ≥ 0.95, ≥ bare − 0.02, ≤ 1.3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness import interleaved_median_ms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emufleet.settings import real_screens_dir  # noqa: E402
from emufleet.vision.images import read_template_image  # noqa: E402
from emufleet.vision.recognizers import read_image  # noqa: E402
from emufleet.vision.text import TextQuery, normalise  # noqa: E402
from emufleet.vision.text_boxes import BoxRow, read_box_rows  # noqa: E402


def edits(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def bare_text(out: Any, joiner: str) -> str:
    return joiner.join(out.txts or ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds per line (after one warm-up)")
    args = parser.parse_args()
    root = real_screens_dir()
    if not (root / "text.tsv").is_file():
        sys.exit(f"real screens not found at {root} (set EMUFLEET_REAL_SCREENS)")
    _, rows = read_box_rows(root / "text.tsv")
    screens = {r.fields["screen"]: read_template_image(root / "screens" / r.fields["screen"]).image for r in rows}
    from rapidocr import RapidOCR

    started = time.perf_counter()
    read_image(next(iter(screens.values())), rows[0].box)  # loads the shared engine
    print(f"engine loaded and first line read in {time.perf_counter() - started:.2f} s")
    bare = RapidOCR(params={"Global.log_level": "error"})

    stats: dict[str, list[Any]] = defaultdict(list)
    by: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for row in rows:
        image, (x1, y1, x2, y2) = screens[row.fields["screen"]], row.box
        crop = image[y1:y2, x1:x2]
        truth = normalise(row.fields["text"], row.lang)
        got: dict[str, str] = {}

        def ours(layout: str, row: BoxRow = row, image: Any = image, got: dict[str, str] = got) -> None:
            lines = read_image(image, row.box, layout=layout, lang=row.lang)  # type: ignore[arg-type]
            got[layout] = " ".join(t.text for t in lines)

        def plain(det: bool, crop: Any = crop, got: dict[str, str] = got) -> None:
            got[f"bare{det}"] = bare_text(bare(crop, use_det=det, use_cls=False, use_rec=True), " ")

        bare_ms, ours_ms = interleaved_median_ms([lambda: plain(False), lambda: ours("auto")], args.repeat)
        ours("block")
        plain(True)
        exact = {k: normalise(v, row.lang) == truth for k, v in got.items()}
        stats["ours"].append(exact["auto"])
        stats["bare"].append(exact["bareFalse"])
        stats["ours_det"].append(exact["block"])
        stats["bare_det"].append(exact["bareTrue"])
        stats["edits"].append(edits(normalise(got["auto"], row.lang), truth))
        stats["chars"].append(len(truth))
        stats["ms"].append(ours_ms)
        stats["bare_ms"].append(bare_ms)
        stats["ratio"].append(ours_ms / bare_ms)
        for key in (f"lang={row.lang}", f"kind={row.fields['kind']}"):
            by[key].append((exact["auto"], exact["bareFalse"]))
        if not exact["auto"]:
            print(f"  miss: {row.fields['screen']}:{row.line}: {truth!r} read {got['auto']!r}")

    # the large-region path: each screen read whole once, then every line looked for in it
    found = whole_ms = 0.0
    for name, image in screens.items():
        started = time.perf_counter()
        lines = read_image(image, None, layout="block", lang="en")
        whole_ms += (time.perf_counter() - started) * 1000
        for row in (r for r in rows if r.fields["screen"] == name):
            query = TextQuery(row.fields["text"], lang=row.lang)
            x1, y1, x2, y2 = row.box
            found += any(query.search(normalise(t.text, row.lang)) and t.box[0] < x2 and x1 < t.box[2]
                         and t.box[1] < y2 and y1 < t.box[3] for t in lines)

    n = len(rows)
    print(f"{n} lines; exact reads (ours / bare library):")
    for key in sorted(by):
        pairs = by[key]
        ours_n, bare_n = sum(a for a, _ in pairs), sum(b for _, b in pairs)
        print(f"  {key:14s} {ours_n:3d}/{len(pairs):<3d} / {bare_n:3d}/{len(pairs)}")
    print(f"recognition alone on the crop (line path): ours {sum(stats['ours'])}/{n}, bare {sum(stats['bare'])}/{n}")
    print(f"detection first on the same crops (block path): ours {sum(stats['ours_det'])}/{n}, "
          f"bare {sum(stats['bare_det'])}/{n}")
    print(f"whole screen read once per screen, line found inside its box: {found:.0f}/{n} "
          f"({whole_ms / len(screens):.0f} ms per screen, {len(screens)} screens)")
    print(f"ms per line read: ours median {statistics.median(stats['ms']):.1f}, bare median "
          f"{statistics.median(stats['bare_ms']):.1f}; ours / bare median {statistics.median(stats['ratio']):.2f}× "
          f"(p90 {sorted(stats['ratio'])[n * 9 // 10]:.2f}×)")
    cer = sum(stats["edits"]) / max(1, sum(stats["chars"]))
    print(f"ocr_exact={sum(stats['ours']) / n:.3f} ocr_bare_exact={sum(stats['bare']) / n:.3f} ocr_cer={cer:.4f} "
          f"ocr_ms={statistics.median(stats['ms']):.1f} ocr_cost_ratio={statistics.median(stats['ratio']):.2f}")


if __name__ == "__main__":
    main()
