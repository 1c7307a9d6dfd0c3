"""``getevent`` as a device answers it (issue 19 item 4: ``emufleet sessions record`` reads a person's input from it).

``getevent -p`` describes the input devices: ``/dev/input/event2`` is the touchscreen (multi-touch axes
``ABS_MT_POSITION_X/Y`` from 0 to the screen's width/height − 1, so a raw value is a device pixel, as MuMu's is) and
``/dev/input/event1`` the keys. ``getevent [-l] [-t]`` streams, until the host closes the stream, the kernel events of
every tap, swipe and key the instance receives from then on (from ``input``, ``monkey`` or the control API): a touch
is ``ABS_MT_TRACKING_ID n``, ``BTN_TOUCH DOWN``, positions, ``SYN_REPORT``, moves, then ``ABS_MT_TRACKING_ID
ffffffff``, ``BTN_TOUCH UP``, ``SYN_REPORT``; ``-l`` names types and codes (else hex), ``-t`` stamps each line
``[   seconds.micros]``. A swipe's moves are stamped over its duration (they are written at once).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
from collections.abc import Iterator

from emufleet.sim.device import DeviceModel, SimEvent
from emufleet.sim.transport import Stream, StreamClosed

__all__ = ["describe", "stream_events"]

TOUCH = "/dev/input/event2"
KEYS = "/dev/input/event1"
_TYPES = {"EV_SYN": 0, "EV_KEY": 1, "EV_ABS": 3}
_CODES = {"SYN_REPORT": 0, "BTN_TOUCH": 0x14A, "ABS_MT_POSITION_X": 0x35, "ABS_MT_POSITION_Y": 0x36,
          "ABS_MT_TRACKING_ID": 0x39, "KEY_BACK": 158, "KEY_HOME": 102, "KEY_MENU": 139, "KEY_POWER": 116,
          "KEY_VOLUMEUP": 115, "KEY_VOLUMEDOWN": 114, "KEY_ENTER": 28}
_VALUES = {"DOWN": 1, "UP": 0}
_MOVES = 4  # positions reported between a swipe's ends


def describe(device: DeviceModel) -> str:
    """``getevent -p``: the two input devices and the touchscreen's axes (device px)."""
    width, height = device.size_override or (device.scenario.width, device.scenario.height)
    return (f"add device 1: {KEYS}\n  name:     \"qwerty2\"\n  events:\n    KEY (0001): 0066  008b  009e  0074\n"
            f"add device 2: {TOUCH}\n  name:     \"virtio_input_multi_touch\"\n  events:\n"
            f"    KEY (0001): 014a\n"
            f"    ABS (0003): 0035  : value 0, min 0, max {width - 1}, fuzz 0, flat 0, resolution 0\n"
            f"                0036  : value 0, min 0, max {height - 1}, fuzz 0, flat 0, resolution 0\n"
            f"                0039  : value 0, min 0, max 65535, fuzz 0, flat 0, resolution 0\n")


def _touch(ids: Iterator[int], points: list[tuple[float, float]], start: float, ms: int
           ) -> Iterator[tuple[float, str, str, str, str]]:
    gap = ms / 1000.0 / max(len(points) - 1, 1)
    yield start, TOUCH, "EV_ABS", "ABS_MT_TRACKING_ID", f"{next(ids):08x}"
    yield start, TOUCH, "EV_KEY", "BTN_TOUCH", "DOWN"
    for n, (x, y) in enumerate(points):
        at = start + n * gap
        yield at, TOUCH, "EV_ABS", "ABS_MT_POSITION_X", f"{round(x):08x}"
        yield at, TOUCH, "EV_ABS", "ABS_MT_POSITION_Y", f"{round(y):08x}"
        yield at, TOUCH, "EV_SYN", "SYN_REPORT", "00000000"
    end = start + ms / 1000.0
    yield end, TOUCH, "EV_ABS", "ABS_MT_TRACKING_ID", "ffffffff"
    yield end, TOUCH, "EV_KEY", "BTN_TOUCH", "UP"
    yield end, TOUCH, "EV_SYN", "SYN_REPORT", "00000000"


def _events(event: SimEvent, ids: Iterator[int]) -> Iterator[tuple[float, str, str, str, str]]:
    d = event.detail
    if event.kind == "tap":
        yield from _touch(ids, [(float(str(d["x"])), float(str(d["y"])))], event.t, 60)
    elif event.kind == "swipe":
        x1, y1, x2, y2 = (float(str(d[k])) for k in ("x1", "y1", "x2", "y2"))
        points = [(x1 + (x2 - x1) * n / (_MOVES + 1), y1 + (y2 - y1) * n / (_MOVES + 1)) for n in range(_MOVES + 2)]
        yield from _touch(ids, points, event.t, int(str(d.get("ms", 300))))
    elif event.kind == "key":
        name = "KEY_" + str(d.get("key", "")).removeprefix("KEYCODE_")
        for value in ("DOWN", "UP"):
            yield event.t, KEYS, "EV_KEY", name, value
            yield event.t, KEYS, "EV_SYN", "SYN_REPORT", "00000000"


def _line(at: float, path: str, kind: str, code: str, value: str, *, labels: bool, stamps: bool) -> str:
    if not labels:
        kind, code = f"{_TYPES[kind]:04x}", f"{_CODES.get(code, 0):04x}"
        value = f"{_VALUES[value]:08x}" if value in _VALUES else value
    stamp = f"[{at:15.6f}] " if stamps else ""
    return f"{stamp}{path}: {kind:<12} {code:<20} {value}\n" if labels else f"{stamp}{path}: {kind} {code} {value}\n"


async def stream_events(device: DeviceModel, args: list[str], stream: Stream, *, v2: bool) -> None:
    """Serve ``getevent ARGS`` on ``stream`` (see the module docstring) until the host closes it."""
    if "-p" in args:
        await _write(stream, describe(device).encode(), v2)
        if v2:
            await stream.write(struct.pack("<BIB", 3, 1, 0))  # the exit status packet: 0
        return
    labels, stamps = "-l" in args or "-lt" in args or "-tl" in args, "-t" in args or "-lt" in args or "-tl" in args
    loop = asyncio.get_running_loop()
    heard: asyncio.Queue[SimEvent] = asyncio.Queue()

    def hear(event: SimEvent) -> None:  # called with the device lock held, from any thread
        if event.kind in ("tap", "swipe", "key"):
            loop.call_soon_threadsafe(heard.put_nowait, event)

    unwatch = device.watch(hear)
    ids = itertools.count(1)
    try:
        while not stream.closed:
            try:
                event = await asyncio.wait_for(heard.get(), 0.5)
            except TimeoutError:
                continue
            text = "".join(_line(*e, labels=labels, stamps=stamps) for e in _events(event, ids))
            await _write(stream, text.encode(), v2)
    except StreamClosed:
        pass
    finally:
        unwatch()


async def _write(stream: Stream, data: bytes, v2: bool) -> None:
    await stream.write(struct.pack("<BI", 1, len(data)) + data if v2 else data)

