"""Health checks of a simulated instance through the real adb server, one simulator fault per check.

Frames come from :class:`emufleet.device.Device` exactly as a bot's capture path gets them, and are fed to the
monitor with their measured latency; the probes (echo, getprop, dumpsys window) go over adb.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import adbutils
import pytest

from emufleet.bot import HealthChange, HealthMonitor, HealthProblem, HealthSettings, HealthSeverity
from emufleet.bot.checks import CHECKS, FrameCheck, Frames
from emufleet.bot.recovery import FaultKind
from emufleet.device import Device
from emufleet.errors import DeviceError, ScreenshotError
from emufleet.settings import GAME
from emufleet.sim import SimInstance, Simulator
from tests.conftest import connect_serial, wait_device_state
from tests.sim.helpers import wait_until

P = SimpleNamespace(**{str(check.problem).upper(): check.problem for check in CHECKS})  # P.ADB_DOWN …


@pytest.fixture
def inst(simulator: Callable[..., Simulator]) -> SimInstance:
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")  # the game runs and is in front
    return inst


@pytest.fixture
def dev(inst: SimInstance) -> Device:
    return Device(inst.serial, timeout_s=5)


@pytest.fixture
def changes() -> list[HealthChange]:
    return []


@pytest.fixture
def monitor(dev: Device, changes: list[HealthChange]) -> HealthMonitor:
    settings = HealthSettings(package=GAME.package, frozen_min_s=0.3, probe_timeout_s=3.0)
    return HealthMonitor(dev, settings, on_change=changes.append)


def capture(monitor: HealthMonitor, dev: Device, n: int = 1, *, waiting: bool = False, pause_s: float = 0.0) -> None:
    """What the bot's capture path does: capture, time it, tell the monitor (frames or errors)."""
    for _ in range(n):
        start = time.monotonic()
        try:
            frame = dev.screenshot()
        except ScreenshotError as exc:
            monitor.observe_capture_error(exc, (time.monotonic() - start) * 1000)
        else:
            monitor.observe_frame(frame, (time.monotonic() - start) * 1000, waiting=waiting)
        time.sleep(pause_s)


def test_a_healthy_instance(monitor: HealthMonitor, dev: Device, changes: list[HealthChange]) -> None:
    capture(monitor, dev, 3)
    report = monitor.check()
    assert report.healthy and report.problems == () and report.severity is HealthSeverity.OK
    assert (report.adb_alive, report.boot_completed, report.foreground) == (True, True, GAME.package)
    assert report.captures == 3 and 0 < report.capture_ms_p50 <= report.capture_ms_p95  # type: ignore[operator]
    assert changes == [] and monitor.last is report
    assert report.to_dict()["problems"] == [] and report.to_dict()["healthy"] is True


def test_app_not_foreground_after_a_crash(monitor: HealthMonitor, inst: SimInstance,
                                          changes: list[HealthChange]) -> None:
    assert monitor.check().healthy
    inst.inject_fault("crash")
    report = monitor.check()
    assert report.problems == (P.APP_NOT_FOREGROUND,) and not report.healthy
    assert report.message(P.APP_NOT_FOREGROUND) == f"foreground is com.mumu.launcher, not {GAME.package}"
    assert [(c.appeared, c.cleared) for c in changes] == [((P.APP_NOT_FOREGROUND,), ())]
    inst.set_state("home_ready")
    assert monitor.check().healthy
    assert changes[-1].cleared == (P.APP_NOT_FOREGROUND,) and changes[-1].before is report


def test_frozen_screen_needs_identical_frames_while_waiting(monitor: HealthMonitor, inst: SimInstance,
                                                            dev: Device) -> None:
    capture(monitor, dev, 8, waiting=False, pause_s=0.05)  # looking at a static screen is not waiting
    assert not monitor.check().frozen
    inst.set_state("splash")  # 1.5 s later the title: the screen changes during the wait
    capture(monitor, dev, 4, waiting=True, pause_s=0.05)
    wait_until(lambda: inst.state == "title", what="the title")
    capture(monitor, dev, 1, waiting=True)
    assert not monitor.check().frozen  # the run restarted on the title's first frame
    inst.inject_fault("frozen")
    inst.set_state("menu")  # the app moves on behind the frozen display
    for _ in range(20):
        capture(monitor, dev, 1, waiting=True, pause_s=0.05)
    report = monitor.check()
    assert report.frozen and report.problems == (P.FROZEN_SCREEN,)
    assert "the same frame over" in (report.message(P.FROZEN_SCREEN) or "")
    dev.app_stop(GAME.package)  # what rung 2 does
    capture(monitor, dev, 1, waiting=True)
    assert not monitor.check().frozen and inst.faults == {}


def test_a_stuck_app_shows_as_a_frozen_screen_after_input(monitor: HealthMonitor, inst: SimInstance,
                                                           dev: Device) -> None:
    """The demo's screens are still images: a tap the app ignores leaves the frame unchanged while the routine
    waits for the screen it asked for."""
    inst.inject_fault("stuck_app")
    dev.tap(270, 890)  # the Missions button
    for _ in range(20):
        capture(monitor, dev, 1, waiting=True, pause_s=0.05)
    assert monitor.check().problems == (P.FROZEN_SCREEN,) and inst.state == "home_ready"


def test_popups_are_not_health_problems(monitor: HealthMonitor, inst: SimInstance, dev: Device) -> None:
    inst.inject_fault("popup_storm")
    capture(monitor, dev, 3)
    assert monitor.check().healthy


def test_frozen_verdict_also_comes_from_the_capture_path(dev: Device, inst: SimInstance) -> None:
    monitor = HealthMonitor(dev, HealthSettings(frozen_captures=3, frozen_min_s=0.0))
    inst.inject_fault("frozen")
    verdicts = [monitor.observe_frame(dev.screenshot(), 10.0, waiting=True) for _ in range(4)]
    assert verdicts == [False, False, True, True]


def test_not_booted_then_adb_down_during_a_reboot(monitor: HealthMonitor, inst: SimInstance,
                                                  adb_server: adbutils.AdbClient) -> None:
    inst.inject_fault("reboot", down_s=2.0, boot_s=30)  # down long enough to be seen down
    wait_until(lambda: {d.serial: d.state for d in adb_server.list()}.get(inst.serial) != "device",
               what="the reboot to take the device down")
    down = monitor.check()  # never raises: the device error is the problem
    assert down.problems[0] is P.ADB_DOWN and not down.adb_alive and down.boot_completed is None
    assert down.severity is HealthSeverity.CRITICAL
    wait_device_state(adb_server, inst.serial, "device", timeout_s=30)
    booting = monitor.check()
    assert booting.adb_alive and booting.problems == (P.NOT_BOOTED,)
    assert booting.message(P.NOT_BOOTED) == "sys.boot_completed is ''"
    inst.device.boot_done_at = 0.0  # finish booting now: the launcher, then the app
    inst.set_state("home_ready")
    assert monitor.check().healthy


def test_adb_down_when_the_emulator_refuses(monitor: HealthMonitor, inst: SimInstance,
                                            adb_server: adbutils.AdbClient) -> None:
    inst.inject_fault("refuse")
    adb_server.disconnect(inst.serial)
    report = monitor.check()
    assert report.worst is P.ADB_DOWN and report.problems == (P.ADB_DOWN,)
    assert report.message(P.ADB_DOWN).startswith("echo: ")  # type: ignore[union-attr]
    inst.clear_faults("refuse")
    connect_serial(adb_server, inst.serial)
    assert monitor.check().healthy


def test_slow_capture_is_a_warning(monitor: HealthMonitor, inst: SimInstance, dev: Device) -> None:
    inst.inject_fault("latency", screencap_ms=420)
    capture(monitor, dev, 2)
    assert P.SLOW_CAPTURE not in monitor.check().problems  # fewer captures than latency_min_samples
    capture(monitor, dev, 1)
    report = monitor.check()
    assert report.problems == (P.SLOW_CAPTURE,) and report.healthy and report.severity is HealthSeverity.WARNING
    assert report.capture_ms_p50 >= 420  # type: ignore[operator]
    inst.clear_faults()
    capture(monitor, dev, 4)  # the median recovers once most of the window is fast again
    assert monitor.check().problems == ()


def test_black_and_failing_captures(monitor: HealthMonitor, inst: SimInstance, dev: Device) -> None:
    inst.inject_fault("black_screen")
    capture(monitor, dev, 1)
    assert monitor.check().problems == (P.BLACK_SCREEN,)
    inst.clear_faults()
    inst.inject_fault("corrupt_screen")
    capture(monitor, dev, 2)
    assert monitor.check().problems == ()  # two failures are not yet failing
    capture(monitor, dev, 1)
    report = monitor.check()
    assert report.problems == (P.CAPTURE_FAILING,) and "3 captures failed" in report.messages[0]
    inst.clear_faults()
    capture(monitor, dev, 1)
    assert monitor.check().healthy


def test_anr_dialog_keeps_the_game_focused_app(monitor: HealthMonitor, inst: SimInstance, dev: Device) -> None:
    """Android's ANR dialog takes the window focus; the focused app (what the check reads) stays the game."""
    inst.inject_fault("anr")
    assert "Application Not Responding: " + GAME.package in dev.shell("dumpsys window").output
    assert monitor.check().healthy


def test_due_follows_the_interval(dev: Device) -> None:
    now = [100.0]
    monitor = HealthMonitor(dev, HealthSettings(interval=10.0), clock=lambda: now[0])
    assert monitor.due()
    monitor.check()
    now[0] += 9.9
    assert not monitor.due()
    assert monitor.due(now[0] + 0.1)


def test_settings_are_strict() -> None:
    with pytest.raises(ValueError, match="extra"):
        HealthSettings(intervall=5)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        HealthSettings(frozen_captures="5")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        HealthSettings(interval=0)
    with pytest.raises(ValueError, match="expected a duration"):
        HealthSettings(interval="often")  # type: ignore[arg-type]
    parsed = HealthSettings(interval="2m", frozen_min_s="0s", probe_timeout_s="500ms")  # type: ignore[arg-type]
    assert (parsed.interval, parsed.frozen_min_s, parsed.probe_timeout_s) == (120.0, 0.0, 0.5)
    assert HealthSettings().model_dump() | {"package": "x"} == HealthSettings(package="x").model_dump()


def test_device_errors_become_problems_on_any_device() -> None:
    class Broken:
        serial = "broken"

        def shell(self, command: str, *, timeout_s: float | None = None, check: bool = False) -> None:
            raise DeviceError("gone", serial="broken")

    report = HealthMonitor(Broken()).check()  # type: ignore[arg-type]
    assert report.problems == (P.ADB_DOWN,) and report.messages == ("echo: broken: gone",)


def test_a_check_is_one_class_registered_where_it_is_written(monitor: HealthMonitor, dev: Device) -> None:
    class Sunny(FrameCheck):  # a new check: its problem, severity and fault beside its code, nothing else
        problem = HealthProblem("test_sunny", HealthSeverity.ERROR, FaultKind.BAD_FRAME)

        def see(self, frames: Frames, settings: HealthSettings) -> str | None:
            return f"{frames.latencies.size} captures, all sunny"

    try:
        capture(monitor, dev)
        report = monitor.check()
        assert report.problems == (Sunny.problem,) and report.messages == ("1 captures, all sunny",)
        assert not report.healthy and Sunny.problem.fault is FaultKind.BAD_FRAME
        with pytest.raises(TypeError, match="registered twice"):
            type("Again", (FrameCheck,), {"problem": HealthProblem("test_sunny", HealthSeverity.WARNING)})
    finally:
        CHECKS[:] = [check for check in CHECKS if not isinstance(check, Sunny)]
    assert monitor.check().problems == ()


def test_problems_are_named_after_the_faults_they_raise() -> None:
    faults = {str(check.problem): check.problem.fault for check in CHECKS}
    assert faults == {"adb_down": FaultKind.ADB_DOWN, "not_booted": FaultKind.NOT_BOOTED,
                      "app_not_foreground": FaultKind.APP_NOT_FOREGROUND, "frozen_screen": FaultKind.FROZEN_SCREEN,
                      "black_screen": FaultKind.BAD_FRAME, "capture_failing": FaultKind.BAD_FRAME,
                      "slow_capture": None}
    assert all(name == fault for name, fault in faults.items() if fault is not None and name in set(FaultKind))


def test_every_check_setting_belongs_to_a_check() -> None:
    claimed = [key for check in CHECKS for key in check.settings]
    general = {"interval", "heartbeat", "probe_timeout_s"}  # the monitor's and the supervision loop's own
    assert sorted(claimed) == sorted(set(HealthSettings.model_fields) - general), "each key read by one check"
