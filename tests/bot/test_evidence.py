"""Failure evidence with real OpenCV: the last N frames, overlays where the step looked, the per-run cap."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emufleet.bot.evidence import FrameRecorder, evidence_dir, render
from emufleet.routines import MatchScore
from emufleet.vision import Region

W, H = 540, 960
MISS = MatchScore("OK", 0.41, False, threshold=0.8, region=Region(100, 400, 300, 500),
                  location=Region(150, 420, 198, 448))
HIT = MatchScore("Menu", 0.97, True, threshold=0.8, region=Region(300, 700, 500, 800),
                 location=Region(350, 720, 398, 748))
BLUE, GREEN, RED = (200, 160, 40), (60, 200, 60), (40, 40, 230)


def frame(value: int) -> np.ndarray:
    return np.full((H, W, 3), value, np.uint8)


def test_recorder_keeps_the_last_frames() -> None:
    recorder = FrameRecorder(capacity=3)
    for i in range(5):
        recorder.observe(frame(10 * i), at=100.0 + i)
    assert [f.at for f in recorder.frames] == [102.0, 103.0, 104.0]
    assert [int(f.image[500, 10, 0]) for f in recorder.frames] == [20, 30, 40]
    with pytest.raises(ValueError, match="uint8"):
        recorder.observe(np.zeros((H, W), np.uint8))
    with pytest.raises(ValueError):
        FrameRecorder(capacity=0)


def test_dump_draws_region_candidate_and_banner(tmp_path: Path) -> None:
    recorder = FrameRecorder(capacity=3)
    recorder.observe(frame(90), at=10.0)
    recorder.observe(frame(100), at=11.0)
    recorder.looking_for("steps[4]", [MISS, HIT])
    paths = recorder.dump(tmp_path / "run", "stuck: no step for 60 s", now=12.5)
    assert [p.name for p in paths] == ["01-stuck-no-step-for-60-s-1of2.png", "01-stuck-no-step-for-60-s-2of2.png"]
    image = cv2.imread(str(paths[1]))
    assert image.shape == (H, W, 3)
    assert tuple(image[450, 100]) == BLUE and tuple(image[750, 499]) == BLUE  # region outlines (half-open x2)
    assert tuple(image[434, 150]) == RED  # the nearest candidate below its threshold
    assert tuple(image[734, 350]) == GREEN  # a found one
    assert tuple(image[600, 270]) == (100, 100, 100)  # untouched: lossless PNG of the frame itself
    banner = image[2:30, :]
    assert (banner == (32, 32, 32)).all(axis=2).mean() > 0.5 and (banner > 200).any()  # dark banner, light text
    assert int(cv2.imread(str(paths[0]))[600, 270, 0]) == 90  # oldest first
    assert recorder.step == "steps[4]" and recorder.scores == (MISS, HIT)


def test_dumps_are_capped_per_run(tmp_path: Path) -> None:
    recorder = FrameRecorder(capacity=2, max_dumps=2)
    assert recorder.dump(tmp_path, "nothing yet") == []
    recorder.observe(frame(50))
    assert len(recorder.dump(tmp_path, "a")) == 1
    assert len(recorder.dump(tmp_path, "b")) == 1
    assert recorder.dump(tmp_path, "c") == [] and recorder.dump(tmp_path, "d") == []
    assert recorder.dumps == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["01-a-1of1.png", "02-b-1of1.png"]


def test_render_survives_regions_outside_the_frame_and_missing_scores() -> None:
    off = MatchScore("Gone", None, False, threshold=0.8, region=Region(-40, -60, 20, 10), location=None)
    out = render(frame(0), [off, MatchScore("Bare", None, False)], ["ünïcode reason " * 20])
    assert out.shape == (H, W, 3) and out.dtype == np.uint8


def test_evidence_dir_is_under_the_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(tmp_path))
    assert evidence_dir("demo group", 2, "run/1") == tmp_path / "evidence" / "demo-group" / "bot-2" / "run-1"
