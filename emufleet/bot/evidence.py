"""Failure evidence: the bot's last frames, drawn with what its step was looking for (people would rather look than
read, STYLE 4).

A :class:`FrameRecorder` per bot run keeps the last ``capacity`` captured frames (:meth:`~FrameRecorder.observe`)
and the last step's template checks (:meth:`~FrameRecorder.looking_for`, the step's
:class:`~emufleet.routines.MatchScore` records). On stuck or failure, :meth:`~FrameRecorder.dump` writes them as
PNGs with overlays: per check its search region (blue), its best candidate (green if found, red below the threshold)
labelled ``template score < threshold``, and a banner with the reason, the step and the frame's age. Dumps are
capped per run (``max_dumps``) so a bot failing all night cannot fill the disk. :func:`evidence_dir` is where a run's
files go under the state directory. The Prefect adapter (``adapters/evidence.py``) links them from the bot's flow
run as an artifact.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emufleet.routines.context import MatchScore
from emufleet.settings import state_dir
from emufleet.vision.overlay import draw_box, draw_region

__all__ = ["DEFAULT_CAPACITY", "DEFAULT_MAX_DUMPS", "FrameRecorder", "RecordedFrame", "evidence_dir", "render"]

logger = logging.getLogger("emufleet.evidence")

DEFAULT_CAPACITY = 3
DEFAULT_MAX_DUMPS = 20
_BANNER = (32, 32, 32)
_TEXT = (240, 240, 240)
_LINE_H = 16
_WRAP = 64  # characters per banner line at 540 px


def evidence_dir(group: str, bot: int, run: str) -> Path:
    """``<state>/evidence/<group>/bot-<bot>/<run>``: where one bot run's evidence files go (not created here).

    ``run`` is the bot's flow run id (or any per-run name, e.g. a timestamp outside Prefect).
    """
    return state_dir() / "evidence" / _slug(group) / f"bot-{bot}" / _slug(run)


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One captured frame: ``image`` (H, W, 3) uint8 BGR in device px, captured at ``at`` (``time.time()``, s)."""

    image: np.ndarray
    at: float


class FrameRecorder:
    """The last ``capacity`` frames of a bot and what its last step was looking for; thread-safe.

    Frames are kept by reference (a capture returns a fresh array; do not modify one after observing it), so
    recording costs nothing per frame. ``max_dumps`` caps :meth:`dump` calls per recorder (one recorder per run).
    Raises ``ValueError`` for a capacity or cap below 1.
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY, *, max_dumps: int = DEFAULT_MAX_DUMPS) -> None:
        if capacity < 1 or max_dumps < 0:
            raise ValueError(f"capacity must be >= 1 and max_dumps >= 0, got {capacity} and {max_dumps}")
        self.capacity = capacity
        self.max_dumps = max_dumps
        self._lock = threading.Lock()
        self._frames: deque[RecordedFrame] = deque(maxlen=capacity)
        self._step: str | None = None
        self._scores: tuple[MatchScore, ...] = ()
        self._dumps = 0
        self._capped = False

    def observe(self, frame: np.ndarray, at: float | None = None) -> None:
        """Record a captured frame ((H, W, 3) uint8 BGR, device px) taken at ``at`` (default now); raises
        ``ValueError`` for another shape or dtype."""
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"a frame must be (H, W, 3) uint8 BGR, got {frame.shape} {frame.dtype}")
        with self._lock:
            self._frames.append(RecordedFrame(frame, time.time() if at is None else at))

    def looking_for(self, step: str, scores: Iterable[MatchScore]) -> None:
        """Record the last step (its path or name, e.g. ``steps[3]``) and its template checks."""
        with self._lock:
            self._step, self._scores = step, tuple(scores)

    @property
    def frames(self) -> tuple[RecordedFrame, ...]:
        """The recorded frames, oldest first."""
        with self._lock:
            return tuple(self._frames)

    @property
    def step(self) -> str | None:
        with self._lock:
            return self._step

    @property
    def scores(self) -> tuple[MatchScore, ...]:
        with self._lock:
            return self._scores

    @property
    def dumps(self) -> int:
        """How many dumps this recorder wrote."""
        with self._lock:
            return self._dumps

    def dump(self, directory: Path, reason: str, *, now: float | None = None) -> list[Path]:
        """Write the recorded frames with overlays as PNGs in ``directory`` (created), oldest first.

        Files are named ``<dump>-<reason slug>-<i>of<n>.png`` (``dump`` counts from 01 per recorder). Returns the
        paths; ``[]`` when there is no frame or the cap ``max_dumps`` is reached (logged once). ``now`` (default
        ``time.time()``) dates the frames' ages. Raises ``OSError`` if a file cannot be written.
        """
        with self._lock:
            if not self._frames:
                return []
            if self._dumps >= self.max_dumps:
                if not self._capped:
                    self._capped = True
                    logger.warning("evidence cap reached (%d dumps): no more frames written for this run",
                                   self.max_dumps)
                return []
            self._dumps += 1
            number, frames, step, scores = self._dumps, tuple(self._frames), self._step, self._scores
        now = time.time() if now is None else now
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, frame in enumerate(frames, 1):
            image = render(frame.image, scores, [reason, f"step {step or '?'} - frame {i}/{len(frames)}, "
                                                          f"{now - frame.at:.1f} s before"])
            path = directory / f"{number:02d}-{_slug(reason)[:40]}-{i}of{len(frames)}.png"
            if not cv2.imwrite(str(path), image):
                raise OSError(f"could not write {path}")
            paths.append(path)
        return paths


def render(frame: np.ndarray, scores: Iterable[MatchScore], lines: Iterable[str]) -> np.ndarray:
    """A copy of ``frame`` (device BGR) with each check's region and best candidate drawn, and a banner of
    ``lines`` (wrapped) across its top."""
    out = np.array(frame, copy=True)
    height, width = out.shape[:2]
    for score in scores:
        region = score.region.clip(width, height) if score.region else None
        if region is not None:
            draw_region(out, region)
        box = score.location.clip(width, height) if score.location else None
        if box is not None:
            label = f"{score.template} {score.score:.2f}" if score.score is not None else score.template
            if not score.found and score.threshold is not None:
                label += f" < {score.threshold:g}"
            draw_box(out, box, found=score.found, label=label)
    text = [chunk for line in lines for chunk in _wrap(line)]
    cv2.rectangle(out, (0, 0), (width - 1, _LINE_H * len(text) + 6), _BANNER, -1)
    for n, line in enumerate(text):
        cv2.putText(out, line, (4, _LINE_H * (n + 1)), cv2.FONT_HERSHEY_SIMPLEX, 0.42, _TEXT, 1, cv2.LINE_AA)
    return out


def _wrap(line: str) -> list[str]:
    line = line.encode("ascii", "replace").decode()  # Hershey fonts draw ASCII only
    return [line[i:i + _WRAP] for i in range(0, max(len(line), 1), _WRAP)][:4] or [""]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"
