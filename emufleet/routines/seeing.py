"""Recognizers run from routine steps: the frame, the region, errors located at the step, and the evidence.

Every recognition a step makes is kept on the step like a template check (:class:`MatchScore`: label, score,
verdict, threshold, searched region and best box in device pixels), so step events and failure evidence show text,
colour and feature checks the way they show templates.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from emufleet.errors import VisionError
from emufleet.routines.context import MatchScore

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.vision.recognizers import Recognition, Recognizer
    from emufleet.vision.space import Region

__all__ = ["recognize"]


def recognize(ex: Executor, recognizer: Recognizer, region: Region | None, *, fresh: bool = True) -> Recognition:
    """Run ``recognizer`` inside ``region`` (template space; ``None``: the whole board) of a fresh frame (or one
    ≤ 100 ms old when ``fresh`` is false). ``VisionError`` (bad region, no OCR engine) becomes a located
    ``RoutineError``."""
    screen = ex.screen(fresh=fresh)
    started = time.perf_counter()
    try:
        result = recognizer.recognize(screen, region)
    except VisionError as exc:
        raise ex.error(str(exc)) from exc
    if ex.ctx.on_match is not None:
        ex.ctx.on_match(time.perf_counter() - started, result.found)
    nearest = result.nearest
    label = result.name if nearest is None or nearest.text is None else f"{result.name} read {nearest.text!r}"
    ex.record(MatchScore(label, nearest.score if nearest else None, result.found, threshold=result.threshold,
                         region=screen.space.region_to_device(result.region),
                         location=nearest.device_box if nearest else None))
    return result
