"""What supervising a bot costs its capture path: health bookkeeping and checks against the capture itself.

Against an in-process :class:`emufleet.sim.Simulator` (demo scenario) through a real adb server (isolated port and
``HOME``) and :class:`emufleet.device.Device`, in one run, medians of

* ``capture``: ``Device.screenshot()`` of the home screen (the baseline);
* ``observe``: :meth:`emufleet.bot.HealthMonitor.observe_frame` of that frame (digest, latency window, frozen run);
* ``stuck``: :meth:`emufleet.bot.StuckDetector.input_sent` + :meth:`~emufleet.bot.ClickLoopDetector.tap` (per tap);
* ``check``: one :meth:`~emufleet.bot.HealthMonitor.check` (echo, getprop, dumpsys window over adb).

``observe_share`` = (observe + stuck) / capture: what the bookkeeping adds to every capture (target ≤ 0.05);
``check_share`` = check / (interval · 1000): the device time the periodic check takes (target ≤ 0.01 at 10 s).

Usage: ``.venv/bin/python benchmarks/health.py [--repeat N]``.
The last line is ``observe_share=<float> check_share=<float>``.
"""

from __future__ import annotations

import argparse

from harness import demo_device, median_ms

from emufleet.bot import ClickLoopDetector, HealthMonitor, HealthSettings, StuckDetector
from emufleet.settings import GAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50, help="timed calls per measurement")
    args = parser.parse_args()
    with demo_device("home_ready") as (dev, _):
        settings = HealthSettings(package=GAME.package)
        monitor = HealthMonitor(dev, settings)
        stuck, loop = StuckDetector(), ClickLoopDetector()
        frame = dev.screenshot()
        taps = iter(range(10**9))

        def tap_bookkeeping() -> None:
            i = next(taps)
            stuck.input_sent()
            loop.tap(20 + 37 * (i % 13), 40 + 53 * (i % 17))

        capture_ms = median_ms(dev.screenshot, args.repeat)
        observe_ms = median_ms(lambda: monitor.observe_frame(frame, capture_ms, waiting=True), args.repeat)
        stuck_ms = median_ms(tap_bookkeeping, args.repeat)
        check_ms = median_ms(monitor.check, max(5, args.repeat // 5))
        report = monitor.last
    assert report is not None and report.healthy, report
    print(f"{'what':<10}{'median ms':>12}")
    for name, value in (("capture", capture_ms), ("observe", observe_ms), ("stuck", stuck_ms), ("check", check_ms)):
        print(f"{name:<10}{value:>12.3f}")
    print(f"observe_share={(observe_ms + stuck_ms) / capture_ms:.3f} "
          f"check_share={check_ms / (settings.interval * 1000):.4f}")


if __name__ == "__main__":
    main()
