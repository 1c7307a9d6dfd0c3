"""The calibration of docs/vision.md, on a sample: the default separates; the seed's SAD ≥ 0.8 does not."""

from __future__ import annotations

import numpy as np

from emufleet.vision import TemplateSet

from .calibration import DEFAULT_LABEL, METHODS, SPACE, cases, degenerate, evaluate


def test_default_has_a_positive_margin_where_seed_sad_is_lenient(seed_set: TemplateSet) -> None:
    shaped = [t for t in seed_set if not degenerate(t)]
    sample = TemplateSet({t.name: t for t in shaped[::6]}, SPACE)  # 26 of the 151 templates with shape
    methods = tuple(m for m in METHODS if m.label == DEFAULT_LABEL or m.matcher.name == "sad")
    results = evaluate(list(cases(sample, np.random.default_rng(2))), methods)
    default, sad = results[DEFAULT_LABEL], results[methods[0].label]
    lowest_tp = min(v for v, _ in default.tp)
    highest_fp = max(v for v, _ in default.fp)
    assert lowest_tp >= 0.85 and highest_fp < 0.8 < lowest_tp
    assert max(v for v, _ in sad.fp) >= 0.8  # the seed accepts a wrong place somewhere
