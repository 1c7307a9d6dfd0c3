"""What supervising a bot costs its capture path: health bookkeeping and checks against the capture itself.

Against an in-process :class:`emufleet.sim.Simulator` (demo scenario) through a real adb server (isolated port and
``HOME``) and :class:`emufleet.device.Device`, in one run, medians of

* ``capture``: ``Device.screenshot()`` of the home screen (the baseline);
* ``observe``: :meth:`emufleet.bot.HealthMonitor.observe_frame` of that frame (digest, latency window, frozen run);
* ``stuck``: :meth:`emufleet.bot.StuckDetector.input_sent` + :meth:`~emufleet.bot.ClickLoopDetector.tap` (per tap);
* ``check``: one :meth:`~emufleet.bot.HealthMonitor.check` (echo, getprop, dumpsys window over adb);
* ``emit_dead``: one bot event handed to Prefect's events worker (:func:`adapters.events.emit`) while its API is
  unreachable: a bot's supervision loop emits on its event loop, so this must stay a queue append, never a wait on
  the network (it was a timed assertion in tests/flows/test_events.py; target ≤ 5 ms).

``observe_share`` = (observe + stuck) / capture: what the bookkeeping adds to every capture (target ≤ 0.05);
``check_share`` = check / (interval · 1000): the device time the periodic check takes (target ≤ 0.01 at 10 s).

Usage: ``.venv/bin/python benchmarks/health.py [--repeat N]``.
The last line is ``observe_share=<float> check_share=<float> emit_dead_ms=<float>``.
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
    emit_ms = _emit_dead_ms(args.repeat)
    print(f"{'what':<10}{'median ms':>12}")
    for name, value in (("capture", capture_ms), ("observe", observe_ms), ("stuck", stuck_ms), ("check", check_ms),
                        ("emit_dead", emit_ms)):
        print(f"{name:<10}{value:>12.3f}")
    print(f"observe_share={(observe_ms + stuck_ms) / capture_ms:.3f} "
          f"check_share={check_ms / (settings.interval * 1000):.4f} emit_dead_ms={emit_ms:.3f}")


def _emit_dead_ms(repeat: int) -> float:
    """Median ms of one ``emit`` of a heartbeat while the Prefect API is unreachable (a free port)."""
    from prefect.events.worker import EventsWorker
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from adapters.events import emit
    from emufleet.bot.events import BotEvent, BotRef, EventKind
    from emufleet.hosts import LOCAL_HOST, InstanceId
    from emufleet.sim.adbserver import free_port

    ref = BotRef("bench", 0, InstanceId(LOCAL_HOST, "127.0.0.1:1"))
    with temporary_settings(updates={PREFECT_API_URL: f"http://127.0.0.1:{free_port()}/api"}):
        took = median_ms(lambda: emit(BotEvent(EventKind.HEARTBEAT, ref, {"steps_done": 1})), repeat)
        EventsWorker.drain_all(timeout=15)  # the worker gives the dead server up by itself; wait for it here
    return took


if __name__ == "__main__":
    main()
