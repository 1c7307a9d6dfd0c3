"""CoordinateSpace: the digest §4.3 formulas and their round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emufleet.vision import CoordinateSpace, Region

SPACE = CoordinateSpace()


def test_defaults_are_the_seed_window() -> None:
    assert (SPACE.width, SPACE.height, SPACE.title_bar) == (277, 534, 45)
    assert (SPACE.device_width, SPACE.device_height, SPACE.board_height) == (540, 960, 489)


@pytest.mark.parametrize(("point", "device"), [
    ((0, 45), (0.0, 0.0)),
    ((277, 534), (540.0, 960.0)),
    ((120, 316), (120 * 540 / 277, (316 - 45) * 960 / 489)),
])
def test_to_device_matches_the_seed_formula(point: tuple[int, int], device: tuple[float, float]) -> None:
    assert SPACE.to_device(*point) == pytest.approx(device)


@given(st.floats(0, 277), st.floats(45, 534))
def test_point_round_trip(x: float, y: float) -> None:
    assert SPACE.from_device(*SPACE.to_device(x, y)) == pytest.approx((x, y), abs=1e-9)


@given(st.integers(0, 270), st.integers(45, 520), st.integers(1, 7), st.integers(1, 14))
def test_region_round_trip_covers_the_original(x: int, y: int, w: int, h: int) -> None:
    region = Region(x, y, x + w, y + h)
    device = SPACE.region_to_device(region)
    back = SPACE.region_from_device(device)
    assert back.x1 <= region.x1 and back.y1 <= region.y1 and back.x2 >= region.x2 and back.y2 >= region.y2
    assert back.width - region.width <= 2 and back.height - region.height <= 2


def test_device_point_is_clamped_onto_the_screen() -> None:
    assert SPACE.device_point(-5, 0) == (0, 0)
    assert SPACE.device_point(400, 900) == (539, 959)


def test_frame_round_trip_keeps_the_image() -> None:
    window = np.zeros((534, 277, 3), np.uint8)
    window[45:, :, 1] = np.linspace(0, 255, 277, dtype=np.uint8)[None, :]
    frame = SPACE.space_to_frame(window)
    assert frame.shape == (960, 540, 3)
    back = SPACE.frame_to_space(frame)
    assert back.shape == window.shape
    assert np.abs(back.astype(int) - window.astype(int))[45:].max() <= 2
    assert not back[:45].any()


def test_wrong_sizes_and_bad_spaces_are_rejected() -> None:
    with pytest.raises(ValueError, match="expected 540×960"):
        SPACE.frame_to_space(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(ValueError, match="title_bar"):
        CoordinateSpace(height=40, title_bar=45)
    with pytest.raises(ValueError, match="empty region"):
        Region(5, 5, 5, 10)


def test_other_spaces_use_their_own_factors() -> None:
    mumu12 = CoordinateSpace(title_bar=50, height=539)
    assert mumu12.to_device(0, 50) == (0.0, 0.0)
    assert mumu12.scale_y == pytest.approx(960 / 489)


@pytest.mark.parametrize("space", [SPACE, CoordinateSpace(title_bar=50, height=539),
                                   CoordinateSpace(width=300, height=500, title_bar=20,
                                                   device_width=720, device_height=1280)])
@given(st.data())
def test_a_region_maps_to_the_same_pixels_as_the_whole_frame(space: CoordinateSpace, data: st.DataObject) -> None:
    seed = data.draw(st.integers(0, 2**32 - 1))
    x1 = data.draw(st.integers(0, space.width - 1))
    y1 = data.draw(st.integers(0, space.height - 1))
    region = Region(x1, y1, data.draw(st.integers(x1 + 1, space.width)), data.draw(st.integers(y1 + 1, space.height)))
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (space.device_height, space.device_width, 3), dtype=np.uint8)
    expected = space.frame_to_space(frame)[region.y1: region.y2, region.x1: region.x2]
    assert np.array_equal(space.frame_region_to_space(frame, region), expected)  # bit for bit: same scores


def test_region_mapping_rejects_regions_outside_the_window() -> None:
    frame = np.zeros((960, 540, 3), np.uint8)
    with pytest.raises(ValueError, match="leaves the 277×534 window"):
        SPACE.frame_region_to_space(frame, Region(200, 500, 280, 534))
    with pytest.raises(ValueError, match="expected 540×960"):
        SPACE.frame_region_to_space(frame[:100], Region(0, 0, 5, 5))
    assert not SPACE.frame_region_to_space(frame + 255, Region(0, 0, 10, 45)).any()  # the title bar is black
