"""Per-call cost of device operations: stock adbutils versus emufleet's fast path, measured in the same run.

Runs an in-process simulator (one instance, demo scenario) behind an isolated adb server (free port, temporary
HOME), then times each operation ``--repeat`` times per path and prints the medians:

* ``stock``: plain adbutils by serial (``d.click``, ``d.shell``, ``d.screenshot()``), the reference §6 baseline;
* ``Device(fast=False)``: emufleet's ``Device`` over stock adbutils by serial;
* ``Device(fast=True)``: the fast path (transport id, ``TCP_NODELAY``, no 10 ms close sleep).

The last line is ``tap_speedup=<stock tap median / fast tap median>`` (target ≥ 5).
Usage: ``.venv/bin/python benchmarks/device.py [--repeat N]``.
"""

from __future__ import annotations

import argparse
import io
import os
from collections.abc import Callable

import cv2
import numpy as np
from harness import median_ms, simulator_behind_adb


def stock_raw_screenshot(d: object) -> np.ndarray:
    """Raw screencap through stock adbutils, decoded like ALAS (last w·h·4 bytes)."""
    data: bytes = d.shell("screencap", encoding=None)  # type: ignore[attr-defined]
    width, height = np.frombuffer(data[:8], dtype="<u4")
    rgba = np.frombuffer(data[-int(width) * int(height) * 4:], np.uint8).reshape(int(height), int(width), 4)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR)


def stock_png_screenshot(d: object) -> np.ndarray:
    """``d.screenshot()`` (PIL, decoded lazily) forced to a BGR array."""
    image = d.screenshot()  # type: ignore[attr-defined]
    return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30, help="timed calls per operation and path")
    args = parser.parse_args()

    from emufleet.device import Device

    with simulator_behind_adb() as (client, sim):
        serial = sim.instances[0].serial
        slow = Device(serial, fast=False)
        slow.connect(15)
        slow.wait_ready(30)
        fast = Device(serial, fast=True)
        fast_png = Device(serial, fast=True, screenshot_method="png")
        slow_png = Device(serial, fast=False, screenshot_method="png")
        stock = client.device(serial=serial)
        payload = os.urandom(1024)

        rows: list[tuple[str, Callable[[], object], Callable[[], object], Callable[[], object]]] = [
            ("tap", lambda: stock.click(10, 10), lambda: slow.tap(10, 10), lambda: fast.tap(10, 10)),
            ("shell echo", lambda: stock.shell("echo hi"), lambda: slow.shell("echo hi"),
             lambda: fast.shell("echo hi")),
            ("screenshot raw", lambda: stock_raw_screenshot(stock), slow.screenshot, fast.screenshot),
            ("screenshot png", lambda: stock_png_screenshot(stock), slow_png.screenshot, fast_png.screenshot),
            ("push 1 KiB", lambda: stock.sync.push(io.BytesIO(payload), "/sdcard/bench.bin"),
             lambda: slow.push(payload, "/sdcard/bench.bin"), lambda: fast.push(payload, "/sdcard/bench.bin")),
        ]
        results = {name: tuple(median_ms(fn, args.repeat) for fn in fns) for name, *fns in rows}

    print(f"median ms per call over {args.repeat} calls (simulator on loopback, isolated adb server)")
    print(f"{'operation':<16}{'stock adbutils':>16}{'Device(fast=False)':>20}{'Device(fast=True)':>19}"
          f"{'speedup':>10}")
    for name, (base, slow_ms, fast_ms) in results.items():
        print(f"{name:<16}{base:>16.2f}{slow_ms:>20.2f}{fast_ms:>19.2f}{base / fast_ms:>9.1f}x")
    print(f"tap_speedup={results['tap'][0] / results['tap'][2]:.2f}")


if __name__ == "__main__":
    main()
