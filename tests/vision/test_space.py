"""CoordinateSpace: the digest §4.3 formulas and their round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, ValidationError

from emufleet.errors import InputError, VisionError
from emufleet.vision import CoordinateSpace, Region
from emufleet.vision.space import RegionList, RegionMapping

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
    with pytest.raises(VisionError, match="expected 540×960"):  # as match() says it: one error for one condition
        SPACE.frame_to_space(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(VisionError, match="expected 277×534"):
        SPACE.space_to_frame(np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(InputError, match="title_bar"):
        CoordinateSpace(height=40, title_bar=45)
    with pytest.raises(InputError, match="empty region"):
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
    with pytest.raises(VisionError, match="leaves the 277×534 window"):
        SPACE.frame_region_to_space(frame, Region(200, 500, 280, 534))
    with pytest.raises(VisionError, match="expected 540×960"):
        SPACE.frame_region_to_space(frame[:100], Region(0, 0, 5, 5))
    assert not SPACE.frame_region_to_space(frame + 255, Region(0, 0, 10, 45)).any()  # the title bar is black


class _Written(BaseModel):
    model_config = ConfigDict(extra="forbid")
    mapping: RegionMapping | None = None
    listed: RegionList | None = None


def test_yaml_models_take_the_one_region_type_in_both_written_forms() -> None:
    model = _Written(mapping={"x1": 1, "y1": 2, "x2": 3, "y2": 4}, listed=[-5, 0, 5, 10])
    assert model.mapping == Region(1, 2, 3, 4) and model.listed == Region(-5, 0, 5, 10)
    assert _Written(mapping=Region(0, 0, 1, 1)).mapping == Region(0, 0, 1, 1)  # a Region passes as it is
    assert model.model_dump() == {"mapping": {"x1": 1, "y1": 2, "x2": 3, "y2": 4}, "listed": [-5, 0, 5, 10]}
    cases = [({"mapping": {"x1": 5, "y1": 0, "x2": 3, "y2": 1}}, ("mapping",), "empty region (5, 0, 3, 1)"),
             ({"listed": [10, 0, 5, 10]}, ("listed",), "empty region (10, 0, 5, 10)"),
             ({"mapping": {"x1": -1, "y1": 0, "x2": 3, "y2": 1}}, ("mapping", "x1"), "greater than or equal to 0"),
             ({"mapping": {"x1": 0, "y1": 0, "x2": 3}}, ("mapping", "y2"), "Field required"),
             ({"mapping": {"x1": 0, "y1": 0, "x2": 3, "y2": 4, "w": 1}}, ("mapping", "w"), "Extra inputs"),
             ({"listed": [1, 2, 3]}, ("listed", 3), "Field required")]
    for data, loc, message in cases:
        with pytest.raises(ValidationError) as info:
            _Written.model_validate(data)
        (error,) = info.value.errors()
        assert error["loc"] == loc and message in error["msg"], (data, error)


def test_region_geometry() -> None:
    r = Region(10, 20, 30, 40)
    assert (r.width, r.height, r.center) == (20, 20, (20, 30))
    assert r.contains(10, 20) and r.contains(29.9, 39.9) and not r.contains(30, 20) and not r.contains(10, 40)
    assert r.intersects(Region(29, 39, 50, 50)) and not r.intersects(Region(30, 20, 40, 40))
    assert r.shift(-10, 5) == Region(0, 25, 20, 45) and r.expand(-5) == Region(15, 25, 25, 35)
    assert r.clip(25, 25) == Region(10, 20, 25, 25) and r.clip(10, 100) is None
