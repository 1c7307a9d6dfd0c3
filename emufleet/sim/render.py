"""Screen rendering for scenarios: compose each state once, cache its PNG bytes and raw RGBA (reference §7).

A :class:`Frame` is what every capture path serves: ``screencap -p`` sends :attr:`Frame.png`, raw ``screencap``
and ``framebuffer:`` send :attr:`Frame.rgba`. Frames are built on first use and kept, so a capture costs no
encoding after the first one (the reference measured the fake adding < 1 ms per call).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

from emufleet.errors import SimulatorError
from emufleet.sim.scenario import ImageSpec, Overlay, Scenario

__all__ = ["Frame", "Renderer", "solid_frame"]


@dataclass(frozen=True)
class Frame:
    """One screen: ``bgr`` (H, W, 3) uint8, plus its encodings built on first access."""

    bgr: np.ndarray = field(repr=False)

    @property
    def width(self) -> int:
        return int(self.bgr.shape[1])

    @property
    def height(self) -> int:
        return int(self.bgr.shape[0])

    @cached_property
    def png(self) -> bytes:
        """PNG bytes (RGB), as ``screencap -p`` prints them."""
        ok, buf = cv2.imencode(".png", self.bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise SimulatorError("PNG encoding failed")
        return buf.tobytes()

    @cached_property
    def rgba(self) -> bytes:
        """Raw RGBA_8888 pixels, row-major, ``W·H·4`` bytes (raw ``screencap``, ``framebuffer:``)."""
        return cv2.cvtColor(self.bgr, cv2.COLOR_BGR2RGBA).tobytes()


def solid_frame(width: int, height: int, bgr: tuple[int, int, int] = (0, 0, 0)) -> Frame:
    """A frame of one colour (black for a booting device or the ``black_screen`` fault)."""
    image = np.empty((height, width, 3), np.uint8)
    image[:] = bgr
    return Frame(image)


class Renderer:
    """Renders and caches the frames of one scenario; thread-safe, shared by all instances."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self._frames: dict[tuple[str, tuple[str, ...]], Frame] = {}
        self._lock = threading.RLock()  # state: bases render their base state first
        self.black = solid_frame(scenario.width, scenario.height)

    def frame(self, state: str, dialogs: tuple[str, ...] = ()) -> Frame:
        """The frame of ``state`` with the scenario's fault ``dialogs`` drawn over it in order, PNG and RGBA
        encoded (built once per combination)."""
        key = (state, dialogs)
        with self._lock:
            frame = self._frames.get(key)
            if frame is None:
                if dialogs:
                    bgr = np.array(self.frame(state).bgr, copy=True)
                    for name in dialogs:
                        _paste(bgr, self.scenario.dialogs[name].overlay)
                else:
                    bgr = self._compose(self.scenario.states[state].image)
                frame = Frame(bgr)
                frame.bgr.setflags(write=False)
                _ = frame.png, frame.rgba
                self._frames[key] = frame
            return frame

    def _compose(self, spec: ImageSpec) -> np.ndarray:
        s = self.scenario
        if spec.kind == "png":
            out = np.array(spec.value, dtype=np.uint8, copy=True)
        elif spec.kind == "colour":
            out = np.empty((s.height, s.width, 3), np.uint8)
            out[:] = spec.value
        else:
            out = np.array(self.frame(spec.value).bgr, copy=True)
        for ov in spec.overlays:
            _paste(out, ov)
        return out


def _paste(out: np.ndarray, ov: Overlay) -> None:
    """Draw overlay ``ov`` onto ``out`` in place (alpha-blended when it has an alpha channel)."""
    h, w = ov.image.shape[:2]
    area = out[ov.y:ov.y + h, ov.x:ov.x + w]
    if ov.alpha is None:
        area[:] = ov.image
    else:
        a = ov.alpha[:, :, None]
        area[:] = (ov.image.astype(np.float32) * a + area.astype(np.float32) * (1.0 - a) + 0.5).astype(np.uint8)
