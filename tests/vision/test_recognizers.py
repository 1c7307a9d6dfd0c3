"""The recognizer interface on the demo game's screens: template matching behind it is ``match()`` unchanged;
colour ranges and means; feature matching of a picture drawn rotated and rescaled. Real OpenCV, no OCR here."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emufleet.errors import VisionError
from emufleet.vision import Screen, TemplateSet, match
from emufleet.vision.recognizers import (
    RECOGNIZERS,
    ColourRecognizer,
    FeatureRecognizer,
    Recognizer,
    TemplateRecognizer,
    mean_colour,
    recognizer,
)
from emufleet.vision.space import Region

REPO = Path(__file__).resolve().parents[2]
SCREENS = REPO / "emufleet" / "sim" / "scenarios" / "demo" / "screens"


@pytest.fixture(scope="module")
def demo() -> TemplateSet:
    return TemplateSet.load(REPO / "templates" / "registry.yaml")


def screen(name: str, demo: TemplateSet) -> Screen:
    frame = cv2.imread(str(SCREENS / f"{name}.png"), cv2.IMREAD_COLOR)
    assert frame is not None
    return Screen(frame, demo.space)


def test_the_template_recognizer_is_match_unchanged(demo: TemplateSet) -> None:
    home, title = screen("home", demo), screen("title", demo)
    for name in ("Main", "Missions", "Menu", "OK"):
        for s in (home, title):
            expected = match(s, demo.get(name), space=demo.space)
            got = TemplateRecognizer(demo.get(name)).recognize(s)
            assert got.found == expected.found and got.threshold == expected.threshold
            assert got.region == expected.region
            assert [(h.box, h.device_box, h.score) for h in got.hits] == [
                (m.rect, m.device_rect, m.score) for m in expected.candidates]
            if expected.nearest:
                assert got.nearest is not None and got.nearest.score == expected.nearest.score
    found = TemplateRecognizer(demo.get("Main")).recognize(home)
    assert found.found and found.best is not None and found.best.text is None


def test_colour_range_share_count_and_box(demo: TemplateSet) -> None:
    home = screen("home", demo)
    # the gold coin of the home screen's second currency pill: device circle at (438, 46), r 12
    coin = Region(*demo.space.region_from_device(Region(420, 28, 524, 64)).as_tuple())
    gold = ColourRecognizer(space="hsv", lower=(15, 120, 150), upper=(35, 255, 255), min_pixels=200)
    seen = gold.recognize(home, coin)
    assert seen.found and seen.best is not None
    box = seen.best.device_box
    assert abs((box.x1 + box.x2) / 2 - 438) <= 3 and abs((box.y1 + box.y2) / 2 - 46) <= 3, box
    share = ColourRecognizer(space="hsv", lower=(15, 120, 150), upper=(35, 255, 255), min_fraction=0.9)
    assert not share.recognize(home, coin).found  # the coin is a small part of the pill
    assert 0.05 < share.recognize(home, coin).score < 0.3
    # nothing of that colour on the launcher's top bar
    assert not gold.recognize(screen("launcher", demo), coin).found


def test_hsv_hue_range_through_red_and_rgb(demo: TemplateSet) -> None:
    frame = np.zeros((960, 540, 3), np.uint8)
    frame[100:200, 100:200] = (0, 0, 230)      # red (BGR)
    frame[100:200, 200:300] = (40, 0, 200)     # a magenta-ish red: hue ≈ 174
    s = Screen(frame, demo.space)
    area = demo.space.region_from_device(Region(100, 100, 300, 200))
    wrap = ColourRecognizer(space="hsv", lower=(170, 100, 100), upper=(5, 255, 255), min_fraction=0.95)
    assert wrap.recognize(s, area).found
    narrow = ColourRecognizer(space="hsv", lower=(0, 100, 100), upper=(5, 255, 255), min_fraction=0.95)
    assert not narrow.recognize(s, area).found
    rgb = ColourRecognizer(lower=(200, 0, 0), upper=(255, 30, 30), min_fraction=0.4)
    assert rgb.recognize(s, area).found and 0.45 < rgb.recognize(s, area).score < 0.6


def test_mean_colour(demo: TemplateSet) -> None:
    frame = np.full((960, 540, 3), (10, 200, 30), np.uint8)  # BGR
    s = Screen(frame, demo.space)
    assert mean_colour(s, Region(10, 60, 50, 90)) == (30, 200, 10)
    assert ColourRecognizer(mode="mean", mean=(40, 190, 20), tolerance=12).recognize(s, Region(10, 60, 50, 90)).found
    miss = ColourRecognizer(mode="mean", mean=(40, 150, 20), tolerance=12).recognize(s, Region(10, 60, 50, 90))
    assert not miss.found and miss.score == pytest.approx(1 - 50 / 255)


@pytest.mark.parametrize("kwargs", [
    {"lower": (0, 0), "upper": (1, 1, 1)}, {"lower": (0, 0, 0), "upper": (256, 0, 0)},
    {"lower": (9, 0, 0), "upper": (1, 5, 5)}, {"space": "lab", "lower": (0, 0, 0), "upper": (1, 1, 1)},
    {"lower": (0, 0, 0), "upper": (1, 1, 1), "min_fraction": 1.5}, {"mode": "mean", "mean": (1, 2)},
])
def test_colour_parameters_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(VisionError):
        ColourRecognizer(**kwargs)  # type: ignore[arg-type]


def test_regions_outside_the_window_are_refused(demo: TemplateSet) -> None:
    with pytest.raises(VisionError, match="outside"):
        ColourRecognizer(lower=(0, 0, 0), upper=(9, 9, 9)).recognize(screen("home", demo), Region(200, 40, 300, 60))


def _paste_warped(background: np.ndarray, picture: np.ndarray, angle: float, scale: float,
                  centre: tuple[int, int]) -> np.ndarray:
    """``picture`` rotated by ``angle`` degrees and scaled, pasted at ``centre`` of a copy of ``background``."""
    h, w = picture.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += (centre[0] - w / 2, centre[1] - h / 2)
    out = background.copy()
    warped = cv2.warpAffine(picture, m, background.shape[1::-1])
    mask = cv2.warpAffine(np.full(picture.shape[:2], 255, np.uint8), m, background.shape[1::-1])
    out[mask > 0] = warped[mask > 0]
    return out


@pytest.mark.parametrize("method", ["sift", "orb"])
def test_features_find_a_picture_rotated_and_rescaled(demo: TemplateSet, method: str) -> None:
    title = cv2.imread(str(SCREENS / "title.png"), cv2.IMREAD_COLOR)
    picture = title[330:630, 120:420]  # the title's logo: textured
    background = cv2.imread(str(SCREENS / "launcher.png"), cv2.IMREAD_COLOR)
    frame = _paste_warped(background, picture, angle=12.0, scale=0.8, centre=(300, 520))
    seen = FeatureRecognizer(picture, name="logo", method=method).recognize(Screen(frame, demo.space))  # type: ignore[arg-type]
    assert seen.found and seen.best is not None, seen
    box = seen.best.device_box
    assert abs((box.x1 + box.x2) / 2 - 300) <= 8 and abs((box.y1 + box.y2) / 2 - 520) <= 8, box
    # rotated 12° and scaled 0.8: the bounding box of the turned square is ≈ 0.8·300·(cos + sin) ≈ 285 px
    assert 255 <= box.width <= 315 and 255 <= box.height <= 315, box
    absent = FeatureRecognizer(picture, name="logo", method=method).recognize(Screen(background, demo.space))  # type: ignore[arg-type]
    assert not absent.found


def test_features_refuse_a_flat_reference() -> None:
    with pytest.raises(VisionError, match="keypoints"):
        FeatureRecognizer(np.full((40, 40, 3), 128, np.uint8))


def test_registration_is_one_decorator_and_names_are_unique() -> None:
    assert {"template", "colour", "features", "ocr"} <= set(RECOGNIZERS)

    class Twin(Recognizer):
        NAME = "colour"

        def recognize(self, screen: Screen, region: Region | None = None) -> object:  # type: ignore[override]
            raise AssertionError

    with pytest.raises(VisionError, match="taken"):
        recognizer(Twin)
    assert RECOGNIZERS["colour"] is ColourRecognizer
