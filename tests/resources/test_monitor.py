"""The host monitor (``emufleet.resources``): real psutil sampling, the launch gate's wait and shed reason, degraded
mode with its hysteresis, and a bot's capture pacer. Decisions are driven by samples fed in (``saturated_for_s`` and
``recovered_for_s`` 0, so nothing depends on the clock or on how busy this machine is)."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from emufleet.resources import CapturePacer, HostMonitor, LoadChange, LoadSample, ResourceSettings

INSTANT = ResourceSettings(saturated_for_s=0, recovered_for_s=0, wait_for_room_s=0)


def _sample(cpu: float, memory: float = 40.0) -> LoadSample:
    return LoadSample(0.0, cpu, memory)


def test_degraded_mode_enters_over_a_threshold_and_leaves_only_under_the_recovery_level() -> None:
    heard: list[LoadChange] = []
    monitor = HostMonitor(INSTANT, on_change=heard.append)
    assert monitor.feed(_sample(50)) is None and not monitor.degraded
    entered = monitor.feed(_sample(97))
    assert entered is not None and entered.degraded and entered.reason == "CPU 97 % > 90 %" and monitor.degraded
    assert monitor.feed(_sample(80)) is None and monitor.degraded  # under 90 but over 75: still degraded
    left = monitor.feed(_sample(60))
    assert left is not None and not left.degraded and not monitor.degraded
    assert heard == [entered, left] == monitor.changes


def test_memory_and_capture_latency_count_as_load() -> None:
    monitor = HostMonitor(INSTANT)
    for _ in range(5):
        monitor.observe_capture(2500.0)
    change = monitor.feed(_sample(10, memory=95))
    assert change is not None and change.reason == "memory 95 % > 90 %; capture 2500 ms > 2000 ms"
    assert change.sample.captures == 5


def test_saturation_must_last_saturated_for_before_degraded_mode() -> None:
    monitor = HostMonitor(ResourceSettings(saturated_for_s=3600))
    assert monitor.feed(_sample(99)) is None and monitor.feed(_sample(99)) is None and not monitor.degraded


def test_the_gate_has_room_under_the_thresholds_and_sheds_with_the_reason_over_them() -> None:
    monitor = HostMonitor(INSTANT)
    assert monitor.room() == "no load sample yet"
    monitor.feed(_sample(50))
    assert monitor.wait_for_room() is None
    monitor.feed(_sample(99))
    assert monitor.wait_for_room() == "host saturated for 0 s: CPU 99 % > 90 %"
    assert monitor.wait_for_room(cancelled=lambda: True) == "cancelled"


def test_the_pacer_spaces_captures_only_in_degraded_mode() -> None:
    monitor = HostMonitor(ResourceSettings(saturated_for_s=0, recovered_for_s=0, degraded_capture_interval_s=30))
    pacer = CapturePacer(monitor)
    pacer.captured(40.0)
    monitor.feed(_sample(50))
    assert pacer.delay() == 0.0 and monitor.sample is not None and monitor.sample.capture_ms == 40.0
    monitor.feed(_sample(99))
    assert 29.0 < pacer.delay() <= 30.0 and pacer.slowed == 1


def test_real_sampling_sees_a_cpu_hog_and_a_memory_threshold_sheds() -> None:
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(psutil.cpu_count() or 1)]
    try:
        settings = ResourceSettings(max_memory_percent=0.1, recover_below_percent=0.05, wait_for_room_s=0)
        with HostMonitor(settings, interval_s=0.2) as monitor:
            sample = monitor.next_sample(30.0)
            sample = monitor.next_sample(30.0)  # a full interval with every core spinning
            assert sample is not None and 0 < sample.memory_percent <= 100
            assert sample.cpu_percent >= 50, sample  # every core has a hog
            reason = monitor.wait_for_room()
            assert reason is not None and reason.startswith("host saturated for 0 s: ") and "memory" in reason
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def test_recovery_level_above_a_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="recover_below_percent must not exceed"):
        ResourceSettings(max_cpu_percent=70, recover_below_percent=75)


def test_a_check_turned_off_takes_no_part_in_saturation_or_recovery() -> None:
    monitor = HostMonitor(ResourceSettings(max_cpu_percent=100, saturated_for_s=0, recovered_for_s=0))
    assert monitor.feed(_sample(100)) is None and not monitor.degraded  # 100 % CPU: the CPU check is off
    for _ in range(3):
        monitor.observe_capture(5000.0)
    assert monitor.feed(_sample(100)) is not None and monitor.degraded  # slow captures still count
