"""Coordinate spaces: a template set's window space ↔ device pixels (digest §4.3).

Template sets (the seed's and the demo's) are cut from a MuMu *window*: 277×534 px, of which the top 45 px are the
title bar and the 277×489 below it is the game board. Devices capture 540×960. The mapping is::

    X = x · device_width / width                     (= x · 540/277)
    Y = (y − title_bar) · device_height / (height − title_bar)   (= (y − 45) · 960/489)

:class:`CoordinateSpace` is the only place these formulas live: matching, taps, the simulator's screen composer
and the tests all go through it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import cv2
import numpy as np
from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from emufleet.errors import InputError, VisionError

__all__ = ["CoordinateSpace", "Region", "RegionList", "RegionMapping"]


@dataclass(frozen=True, slots=True)
class Region:
    """A half-open rectangle ``[x1, x2) × [y1, y2)`` in integer pixels (digest §4.3: the seed's region semantics).

    The one rectangle type of emufleet: template regions, routine search regions, the simulator's tap rectangles
    and its drawing all use it, in template space or in device pixels (which one is always said by the function
    returning it). YAML models take it through :data:`RegionMapping` (``{x1, y1, x2, y2}``) or :data:`RegionList`
    (``[x1, y1, x2, y2]``), so this check is the only one.

    Raises:
        InputError: an empty rectangle (``x2 <= x1`` or ``y2 <= y1``); a ``ValueError``, so pydantic locates it.
    """

    x1: int
    y1: int
    x2: int
    y2: int

    def __post_init__(self) -> None:
        if self.x2 <= self.x1 or self.y2 <= self.y1:
            raise InputError(f"empty region {self.as_tuple()}: need x2 > x1 and y2 > y1")

    @property
    def width(self) -> int:
        return self.x2 - self.x1

    @property
    def height(self) -> int:
        return self.y2 - self.y1

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(x1, y1, x2, y2)``."""
        return self.x1, self.y1, self.x2, self.y2

    def fits(self, width: int, height: int) -> bool:
        """Whether a ``width``×``height`` image fits entirely inside this region."""
        return width <= self.width and height <= self.height

    @property
    def center(self) -> tuple[int, int]:
        """The middle pixel ``((x1 + x2) // 2, (y1 + y2) // 2)``."""
        return (self.x1 + self.x2) // 2, (self.y1 + self.y2) // 2

    def contains(self, x: float, y: float) -> bool:
        """Whether point ``(x, y)`` lies inside (``x1 <= x < x2``, ``y1 <= y < y2``)."""
        return self.x1 <= x < self.x2 and self.y1 <= y < self.y2

    def intersects(self, other: Region) -> bool:
        """Whether the two rectangles share a pixel."""
        return self.x1 < other.x2 and other.x1 < self.x2 and self.y1 < other.y2 and other.y1 < self.y2

    def shift(self, dx: int, dy: int) -> Region:
        """This region moved by ``(dx, dy)``."""
        return Region(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)

    def expand(self, margin: int) -> Region:
        """This region grown by ``margin`` px on every side (not clipped; a negative margin shrinks it)."""
        return Region(self.x1 - margin, self.y1 - margin, self.x2 + margin, self.y2 + margin)

    def clip(self, width: int, height: int) -> Region | None:
        """Intersection with ``[0, width) × [0, height)``, or ``None`` if empty."""
        x1, y1 = max(self.x1, 0), max(self.y1, 0)
        x2, y2 = min(self.x2, width), min(self.y2, height)
        return Region(x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None


_KEYS = ("x1", "y1", "x2", "y2")


@dataclass(frozen=True, slots=True)
class _RegionYaml:
    """How a :class:`Region` is written in a YAML model: a ``mapping`` ``{x1, y1, x2, y2}`` of non-negative
    integers (no other key) or a ``list`` ``[x1, y1, x2, y2]`` of integers. A :class:`Region` passes as it is;
    every other check is the region's own (empty: a located "empty region" error)."""

    form: Literal["mapping", "list"]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        mapping = self.form == "mapping"
        written = core_schema.typed_dict_schema(
            {k: core_schema.typed_dict_field(core_schema.int_schema(ge=0)) for k in _KEYS}, extra_behavior="forbid",
        ) if mapping else core_schema.tuple_schema([core_schema.int_schema()] * 4)

        def build(value: Any) -> Region:
            return Region(*(value[k] for k in _KEYS)) if mapping else Region(*value)

        def passthrough(value: Any, inner: core_schema.ValidatorFunctionWrapHandler) -> Region:
            return value if isinstance(value, Region) else inner(value)

        def serialize(region: Region) -> dict[str, int] | list[int]:
            return dict(zip(_KEYS, region.as_tuple(), strict=True)) if mapping else list(region.as_tuple())

        return core_schema.no_info_wrap_validator_function(
            passthrough, core_schema.no_info_after_validator_function(build, written),
            serialization=core_schema.plain_serializer_function_ser_schema(serialize))


#: A :class:`Region` written ``{x1, y1, x2, y2}`` (non-negative integers): template registries, routine steps.
RegionMapping = Annotated[Region, _RegionYaml("mapping")]
#: A :class:`Region` written ``[x1, y1, x2, y2]``: the simulator's tap rectangles.
RegionList = Annotated[Region, _RegionYaml("list")]


@dataclass(frozen=True, slots=True)
class CoordinateSpace:
    """A template set's capture geometry and its mapping to device pixels.

    Attributes:
        width, height: the window the templates were cut from, title bar included (template px).
        title_bar: height of the title bar at the top of that window (template px); game content starts below it.
        device_width, device_height: the device's screen capture size (device px).

    The defaults are the seed's MuMu window (277×534, 45-px title bar) over a 540×960 device (digest §4.3).
    """

    width: int = 277
    height: int = 534
    title_bar: int = 45
    device_width: int = 540
    device_height: int = 960

    def __post_init__(self) -> None:
        if min(self.width, self.device_width, self.device_height) <= 0 or self.title_bar < 0:
            raise InputError(f"invalid coordinate space {self}")
        if self.height <= self.title_bar:
            raise InputError(f"coordinate space height {self.height} must exceed title_bar {self.title_bar}")

    # -- scale factors -------------------------------------------------------------------------------------------
    @property
    def board_height(self) -> int:
        """Height of the game board below the title bar (template px)."""
        return self.height - self.title_bar

    @property
    def scale_x(self) -> float:
        """Device px per template px horizontally (540/277 ≈ 1.949 for the seed)."""
        return self.device_width / self.width

    @property
    def scale_y(self) -> float:
        """Device px per template px vertically (960/489 ≈ 1.963 for the seed)."""
        return self.device_height / self.board_height

    def for_device(self, device_width: int, device_height: int) -> CoordinateSpace:
        """The same template geometry on a device of another size: pixels stay square.

        The window keeps its width and title bar; when the device's aspect ratio differs from the board's by more
        than 2 % (a 3:4 tablet layout for a 9:16 set) the board height is refitted to the device's aspect, so a
        template px maps to the same number of device px both ways. A set cut at another *scale* still needs its
        ``scale`` (``emufleet templates calibrate``).
        """
        if device_width <= 0 or device_height <= 0:
            raise VisionError(f"invalid device size {device_width}×{device_height}")
        aspect = (device_height / device_width) / (self.board_height / self.width)
        height = self.height
        if abs(aspect - 1.0) > 0.02:
            height = self.title_bar + max(1, round(device_height * self.width / device_width))
        return CoordinateSpace(self.width, height, self.title_bar, device_width, device_height)

    # -- points --------------------------------------------------------------------------------------------------
    def to_device(self, x: float, y: float) -> tuple[float, float]:
        """Template-space point → device point (floats): ``X = x·sx``, ``Y = (y − title_bar)·sy``."""
        return x * self.scale_x, (y - self.title_bar) * self.scale_y

    def from_device(self, x: float, y: float) -> tuple[float, float]:
        """Device point → template-space point (floats); the inverse of :meth:`to_device`."""
        return x / self.scale_x, y / self.scale_y + self.title_bar

    def device_point(self, x: float, y: float) -> tuple[int, int]:
        """Template-space point → the nearest device pixel, clamped onto the screen (for taps)."""
        dx, dy = self.to_device(x, y)
        return (min(max(round(dx), 0), self.device_width - 1), min(max(round(dy), 0), self.device_height - 1))

    # -- rectangles ----------------------------------------------------------------------------------------------
    def region_to_device(self, region: Region) -> Region:
        """Template-space region → the smallest device-pixel region covering it (floor/ceil of the corners)."""
        x1, y1 = self.to_device(region.x1, region.y1)
        x2, y2 = self.to_device(region.x2, region.y2)
        return Region(math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))

    def region_from_device(self, region: Region) -> Region:
        """Device-pixel region → the smallest template-space region covering it (floor/ceil of the corners)."""
        x1, y1 = self.from_device(region.x1, region.y1)
        x2, y2 = self.from_device(region.x2, region.y2)
        return Region(math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))

    @property
    def board(self) -> Region:
        """The game board in template space (everything below the title bar)."""
        return Region(0, self.title_bar, self.width, self.height)

    # -- images --------------------------------------------------------------------------------------------------
    def frame_to_space(self, frame: np.ndarray) -> np.ndarray:
        """A device frame (device_height, device_width[, C]) → a window image (height, width[, C]).

        The frame is area-downscaled onto the board, as a MuMu window displays the framebuffer; the title bar rows
        are black. Raises :class:`VisionError` if the frame is not device-sized.
        """
        self._check_frame(frame)
        out = np.zeros((self.height, self.width, *frame.shape[2:]), dtype=frame.dtype)
        cv2.resize(frame, (self.width, self.board_height), dst=out[self.title_bar:], interpolation=cv2.INTER_AREA)
        return out

    def frame_region_to_space(self, frame: np.ndarray, region: Region) -> np.ndarray:
        """The ``region`` (template space, inside the window) of :meth:`frame_to_space`, mapping only its pixels.

        Returns (region.height, region.width[, C]) of ``frame``'s dtype — the same values as
        ``frame_to_space(frame)[region.y1:region.y2, region.x1:region.x2]`` (OpenCV's ``INTER_AREA`` weights and
        float32 arithmetic, in its order), at the cost of the device pixels under ``region`` only. ``frame``
        must be device-sized (uint8). Raises :class:`VisionError` if it is not or ``region`` leaves the window.
        """
        self._check_frame(frame)
        if region.x1 < 0 or region.y1 < 0 or region.x2 > self.width or region.y2 > self.height:
            raise VisionError(f"region {region.as_tuple()} leaves the {self.width}×{self.height} window")
        out = np.zeros((region.height, region.width, *frame.shape[2:]), dtype=frame.dtype)
        top = max(region.y1, self.title_bar)  # rows above are the (black) title bar
        if top >= region.y2:
            return out
        board_rows = slice(top - self.title_bar, region.y2 - self.title_bar)
        rows, row_w = (a[board_rows] for a in _area_taps(self.device_height, self.board_height))
        cols, col_w = (a[region.x1: region.x2] for a in _area_taps(self.device_width, self.width))
        r0, c0 = int(rows.min()), int(cols.min())
        src = frame[r0: int(rows.max()) + 1, c0: int(cols.max()) + 1].astype(np.float32)
        if src.ndim == 2:
            src = src[:, :, None]
        # Horizontal then vertical, each a sequential sum over the taps: cv::resize's resizeArea_ order.
        horizontal = _weighted_sum(src, cols - c0, col_w, axis=1)
        board = _weighted_sum(horizontal, rows - r0, row_w, axis=0)
        out[top - region.y1:] = np.rint(board, out=board).clip(0, 255).reshape(out[top - region.y1:].shape)
        return out

    def _check_frame(self, frame: np.ndarray) -> None:
        """:class:`VisionError` unless ``frame`` is (device_height, device_width[, C]) (as ``match`` says it)."""
        if frame.shape[:2] != (self.device_height, self.device_width):
            raise VisionError(f"frame is {frame.shape[1]}×{frame.shape[0]}, expected "
                              f"{self.device_width}×{self.device_height} device px")

    def space_to_frame(self, window: np.ndarray) -> np.ndarray:
        """A window image (height, width[, C]) → a device frame: the board, linearly upscaled; title bar dropped.

        Raises :class:`VisionError` if the image is not window-sized."""
        if window.shape[:2] != (self.height, self.width):
            raise VisionError(f"window image is {window.shape[1]}×{window.shape[0]}, expected "
                              f"{self.width}×{self.height} template px")
        board = window[self.title_bar:]
        return cv2.resize(board, (self.device_width, self.device_height), interpolation=cv2.INTER_LINEAR)

    def image_to_device(self, image: np.ndarray) -> np.ndarray:
        """A template-space image (a template) scaled to device pixels: ``round(w·sx)×round(h·sy)``, linear."""
        h, w = image.shape[:2]
        size = (max(1, round(w * self.scale_x)), max(1, round(h * self.scale_y)))
        return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


@functools.cache
def _area_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's ``INTER_AREA`` downscale weights from ``source`` to ``target`` px along one axis.

    ``(indices, weights)``, both (target, K): output pixel ``d`` is ``Σ_k weights[d, k] · in[indices[d, k]]``,
    taps in ascending source order, unused taps weight 0 (``computeResizeAreaTab`` in imgproc/resize.cpp).
    """
    scale = 1.0 / (target / source)  # how cv::resize derives it from inv_scale
    taps: list[list[tuple[int, float]]] = []
    for d in range(target):
        f1 = d * scale
        f2 = f1 + scale
        cell = min(scale, source - f1)
        s2 = min(int(np.floor(f2)), source - 1)
        s1 = min(int(np.ceil(f1)), s2)
        row = []
        if s1 - f1 > 1e-3:
            row.append((s1 - 1, (s1 - f1) / cell))
        row += [(s, 1.0 / cell) for s in range(s1, s2)]
        if f2 - s2 > 1e-3:
            row.append((s2, min(min(f2 - s2, 1.0), cell) / cell))
        taps.append(row)
    k = max(len(r) for r in taps)
    indices = np.zeros((target, k), np.intp)
    weights = np.zeros((target, k), np.float32)
    for d, row in enumerate(taps):
        for j, (s, a) in enumerate(row):
            indices[d, j], weights[d, j] = s, a
        indices[d, len(row):] = row[-1][0]  # padding: a real pixel at weight 0
    return indices, weights


def _weighted_sum(src: np.ndarray, indices: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
    """``Σ_k weights[:, k] · src[indices[:, k]]`` along ``axis`` (0 or 1) of an (H, W, C) float32 array."""
    shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
    total: np.ndarray = np.take(src, indices[:, 0], axis=axis) * weights[:, 0].reshape(shape)
    for k in range(1, indices.shape[1]):
        total += np.take(src, indices[:, k], axis=axis) * weights[:, k].reshape(shape)
    return total
