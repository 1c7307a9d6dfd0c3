"""Recording a person playing (``emufleet sessions record``): the device's own input events, read from
``getevent -lt`` as a real Android device (or the simulator) prints them, become the session's inputs
(``by: person``), with a frame captured when the recording starts and after each input (docs/sessions.md).

* :func:`axis_scale` reads ``getevent -p``: device px per raw touchscreen unit;
* :class:`GeteventParser` turns event lines into :class:`Gesture` s: a touch that moved less than ``tap_px`` is a
  ``tap``, else a ``swipe`` (ends and duration); a key press is a ``key`` (``KEY_BACK`` → ``KEYCODE_BACK``);
* :func:`record_person` writes them with their frames through a :class:`~emufleet.sessions.SessionWriter`.

The session replays offline like any other (``emufleet sessions replay``, :class:`~emufleet.sessions.ReplayDevice`).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from emufleet.sessions.format import FrameEvent, InputEvent
from emufleet.sessions.recording import Entry

if TYPE_CHECKING:
    from emufleet.device.interface import DeviceLike
    from emufleet.sessions.recording import SessionWriter

__all__ = ["Gesture", "GeteventParser", "axis_scale", "record_person"]

_LINE = re.compile(r"^(?:\[\s*[\d.]+\]\s*)?(?P<dev>/dev/input/\S+):\s+(?P<type>\S+)\s+(?P<code>\S+)\s+(?P<value>\S+)")
_AXIS = re.compile(r"\b(0035|0036)\s*:\s*value\s+-?\d+,\s*min\s+(-?\d+),\s*max\s+(\d+)")


@dataclass(frozen=True, slots=True)
class Gesture:
    """A person's input in device px: ``tap`` (x, y), ``swipe`` (x1, y1, x2, y2, duration_ms) or ``key`` (key)."""

    kind: Literal["tap", "swipe", "key"]
    args: dict[str, str | int | bool | None]


def axis_scale(description: str, width: int, height: int) -> tuple[float, float]:
    """Device px per raw unit of the touchscreen's X and Y axes, from ``getevent -p`` and the screen size; (1, 1)
    when the description names no multi-touch axis (raw values taken as pixels)."""
    spans = {code: int(high) - int(low) + 1 for code, low, high in _AXIS.findall(description)}
    sx = width / spans["0035"] if spans.get("0035", 0) > 0 else 1.0
    sy = height / spans["0036"] if spans.get("0036", 0) > 0 else 1.0
    return sx, sy


@dataclass
class _Touch:
    points: list[tuple[float, float]] = field(default_factory=list)
    x: float | None = None
    y: float | None = None
    started: float = 0.0
    lifting: bool = False


class GeteventParser:
    """Feeds ``getevent -l[t]`` lines, returns a :class:`Gesture` when one completes (one finger; a second finger's
    events are folded into the first).

    Args:
        scale: device px per raw unit (:func:`axis_scale`).
        tap_px: a touch that moved less than this (device px) is a tap. A swipe's duration comes from the lines'
            ``-t`` stamps (else from their arrival).
    """

    def __init__(self, scale: tuple[float, float] = (1.0, 1.0), *, tap_px: float = 12.0) -> None:
        self.scale = scale
        self.tap_px = tap_px
        self._touch: _Touch | None = None
        self._stamp = re.compile(r"^\[\s*([\d.]+)\]")

    def feed(self, line: str) -> Gesture | None:
        found = _LINE.match(line.strip())
        if found is None:
            return None
        stamp = self._stamp.match(line.strip())
        at = float(stamp.group(1)) if stamp else time.monotonic()
        kind, code, value = found["type"], found["code"], found["value"]
        if kind == "EV_KEY" and code.startswith("KEY_"):
            return Gesture("key", {"key": "KEYCODE_" + code[4:]}) if value == "DOWN" else None
        touch = self._touch
        if kind == "EV_ABS" and code == "ABS_MT_TRACKING_ID":
            if value.lower() == "ffffffff":
                if touch is not None:
                    touch.lifting = True
            elif touch is None:
                self._touch = _Touch(started=at)
            return None
        if touch is None:
            return None
        if kind == "EV_ABS" and code in ("ABS_MT_POSITION_X", "ABS_MT_POSITION_Y"):
            raw = int(value, 16)
            if code.endswith("X"):
                touch.x = raw * self.scale[0]
            else:
                touch.y = raw * self.scale[1]
        elif kind == "EV_SYN" and code == "SYN_REPORT":
            if touch.x is not None and touch.y is not None and not touch.lifting:
                touch.points.append((touch.x, touch.y))
            if touch.lifting:
                self._touch = None
                return self._gesture(touch, at)
        return None

    def _gesture(self, touch: _Touch, ended: float) -> Gesture | None:
        if not touch.points:
            return None
        (x1, y1), (x2, y2) = touch.points[0], touch.points[-1]
        if math.hypot(x2 - x1, y2 - y1) < self.tap_px:
            return Gesture("tap", {"x": round(x1), "y": round(y1)})
        return Gesture("swipe", {"x1": round(x1), "y1": round(y1), "x2": round(x2), "y2": round(y2),
                                 "duration_ms": max(1, round((ended - touch.started) * 1000))})


def record_person(device: DeviceLike, writer: SessionWriter, lines: Iterable[str], parser: GeteventParser, *,
                  settle_s: float = 0.3, limit: int | None = None) -> int:
    """Record until ``lines`` end (close their stream to stop) or ``limit`` inputs were recorded: a frame now, then
    each gesture as a ``person`` input followed by a frame ``settle_s`` later (what the input led to). Returns the
    inputs recorded.

    Raises:
        DeviceError: a capture failed. OSError: the session cannot be written.
    """
    _capture(device, writer)
    inputs = 0
    for line in lines:
        gesture = parser.feed(line)
        if gesture is None:
            continue
        writer.add(Entry(InputEvent(t=time.time(), kind=gesture.kind, args=gesture.args, by="person")))
        inputs += 1
        time.sleep(settle_s)  # the screen's answer to the input, not the frame it was made on
        _capture(device, writer)
        if limit is not None and inputs >= limit:
            break
    return inputs


def _capture(device: DeviceLike, writer: SessionWriter) -> None:
    started = time.perf_counter()
    frame = device.screenshot()
    writer.add(Entry(FrameEvent(t=time.time(), frame="", ms=round((time.perf_counter() - started) * 1000.0, 3)),
                     image=frame))
