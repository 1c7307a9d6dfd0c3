"""The model of one simulated MuMu instance: properties, files, the app, boot state, screen and event log.

Everything the fake shell and the protocol services read or change lives here, behind one lock, so that tests
(another thread) can inspect and steer an instance while adb drives it (reference §7 "Device model").
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from emufleet.boundary import JsonObject
from emufleet.errors import SimulatorError
from emufleet.sim.appfaults import AppFaults
from emufleet.sim.faults import FaultState
from emufleet.sim.files import FileTree
from emufleet.sim.keys import key_name
from emufleet.sim.render import Frame, Renderer
from emufleet.sim.scenario import Scenario
from emufleet.sim.screen import ScreenMachine

__all__ = ["EVENT_LOG_SIZE", "LAUNCHER", "DeviceModel", "SimEvent"]

LAUNCHER = ("com.mumu.launcher", "com.mumu.launcher.Launcher")
EVENT_LOG_SIZE = 100_000  # oldest events are dropped past this (a long `sim up` must not grow without bound)
SYSTEM_PIDS = {"init": 1, "zygote64": 310, "zygote": 311, "surfaceflinger": 402, "system_server": 733,
               LAUNCHER[0]: 1150, "adbd": 388}


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One thing that happened on an instance.

    ``kind`` is one of ``tap swipe key text am monkey file state reboot crash pm fault dialog``; ``detail`` holds
    its fields (``tap``: x, y, state, ``origin`` when the sender named itself (``EMUFLEET_ORIGIN``), and
    ``ignored``/``dialog`` when a fault took it; ``text``: text; ``am``:
    action, package, activity; ``file``: path, size; ``state``: from, to, cause; ``fault``: kind and options, or
    ``kind: end`` with ``fault`` and ``cause`` when a fault ended by itself; ``dialog``: dialog (popup, anr),
    action (shown, closed, wait, close_app) …); ``t`` is ``time.time()``.
    """

    kind: str
    detail: JsonObject = field(default_factory=dict)
    t: float = 0.0


class DeviceModel:
    """State of one instance. Methods are thread-safe (one re-entrant lock per instance).

    Args:
        index, serial: the instance index and ``127.0.0.1:PORT``.
        scenario, renderer: the compiled scenario and its (shared) frame cache.
        root_dir: host folder for this instance's file tree.
    """

    def __init__(self, index: int, serial: str, scenario: Scenario, renderer: Renderer, root_dir: Path) -> None:
        self.index = index
        self.serial = serial
        self.scenario = scenario
        self.renderer = renderer
        self.lock = threading.RLock()
        self._events: deque[SimEvent] = deque(maxlen=EVENT_LOG_SIZE)
        self._watchers: list[Callable[[SimEvent], None]] = []  # `getevent` streams: told of every event logged
        self.faults = FaultState()
        self.app_faults = AppFaults(scenario.dialogs)
        self.files = FileTree(root_dir, on_write=lambda path, size: self.log("file", path=path, size=size))
        self.files.mkdir(f"/data/data/{scenario.package}/shared_prefs", root=True, parents=True)
        self.root_enabled = True
        self.props: dict[str, str] = {
            "ro.product.name": "MuMuPlayer", "ro.product.model": "MuMu", "ro.product.device": "mumu",
            "ro.product.brand": "Android", "ro.product.manufacturer": "Netease", "ro.product.cpu.abi": "x86_64",
            "ro.build.version.sdk": "32", "ro.build.version.release": "12", "ro.build.type": "user",
            "ro.debuggable": "1", "ro.adb.secure": "0", "ro.serialno": serial,
            "ro.sf.lcd_density": "240", "nemud.app_keep_alive": "false", "persist.sys.timezone": "UTC",
            "service.adb.tcp.port": serial.rsplit(":", 1)[-1],
        }
        self.app_running = False
        self.app_pid: int | None = None
        self.app_activity = scenario.activity
        self._pids = itertools.count(2400 + 100 * index)
        self._shutdown_at = 0.0  # monotonic: a reboot request takes effect then (reference §5.8 race)
        self.down_until = 0.0  # accept-and-close until then
        self.boot_done_at = 0.0  # sys.boot_completed is "" until then
        self.on_reboot: Callable[[float], None] | None = None  # server hook: cut connections after N s
        self.reboot_times = (1.0, 2.0)  # (down_s, boot_s) of an in-band reboot (shell `reboot`, `reboot:`)
        self.control: Callable[..., JsonObject] | None = None  # `emufleet-sim` shell command hook
        self.screen = ScreenMachine(scenario, self._required_file, self._transition)
        # `wm size WxH` / `wm density N` overrides, as Android keeps them: frames are scaled to the override size
        # and input coordinates are in it (MuMu's resolution settings and `wm size` on an emulator do the same).
        self.wm_overrides: dict[str, str] = {}  # "size" → "720x1280", "density" → "320"
        self.size_override: tuple[int, int] | None = None
        self._scaled: tuple[Frame, tuple[int, int], Frame] | None = None

    # -- events --------------------------------------------------------------------------------------------
    def log(self, kind: str, /, **detail: object) -> None:
        """Append an event to the log."""
        with self.lock:
            event = SimEvent(kind, detail, time.time())
            self._events.append(event)
            for watcher in list(self._watchers):
                watcher(event)

    def watch(self, watcher: Callable[[SimEvent], None]) -> Callable[[], None]:
        """Call ``watcher`` (quickly: the device lock is held) with every event logged from now on; returns the
        function that stops it (``getevent`` streams the input events it hears)."""
        with self.lock:
            self._watchers.append(watcher)

        def unwatch() -> None:
            with self.lock:
                if watcher in self._watchers:
                    self._watchers.remove(watcher)
        return unwatch

    @property
    def events(self) -> list[SimEvent]:
        """A copy of the event log."""
        with self.lock:
            return list(self._events)

    def clear_events(self) -> None:
        with self.lock:
            self._events.clear()

    def _transition(self, before: str, after: str, cause: str) -> None:
        # The app runs exactly when the screen is not the launcher (``on_app_stop``): tapping the app icon starts
        # it just as ``am start`` does, and reaching the launcher (force-stop, crash, a scripted exit) stops it.
        if after == self.scenario.on_app_stop:
            self.app_running, self.app_pid = False, None
            self.app_faults.app_stopped(reboot=cause == "boot", log=self.log)
        elif not self.app_running:
            self.app_running, self.app_pid = True, next(self._pids)
            self.files.mkdir(f"/data/data/{self.scenario.package}/shared_prefs", root=True, parents=True)
        self.log("state", **{"from": before, "to": after, "cause": cause})

    def _required_file(self, path: str) -> bool:
        """A ``requires_file`` guard (as root: the app's check): the file exists and holds no refused account."""
        return self.files.exists(path, root=True) and not self.faults.refuses(self.files.read(path, root=True))

    # -- boot ----------------------------------------------------------------------------------------------
    def booted(self) -> bool:
        """``sys.boot_completed == "1"``: up and finished booting (or not yet shut down after a reboot)."""
        now = time.monotonic()
        return now < self._shutdown_at or now >= self.boot_done_at

    def is_down(self) -> bool:
        """adbd is down (reboot in progress): new connections are accepted and closed at once."""
        now = time.monotonic()
        return self._shutdown_at <= now < self.down_until

    def reboot(self, down_s: float, boot_s: float, shutdown_s: float = 0.0) -> None:
        """Reboot: after ``shutdown_s`` connections drop, adbd is down ``down_s``, then boots for ``boot_s``."""
        with self.lock:
            now = time.monotonic()
            self._shutdown_at = now + shutdown_s
            self.down_until = self._shutdown_at + down_s
            self.boot_done_at = self.down_until + boot_s
            self.app_running, self.app_pid = False, None
            self.screen.reset(at=self.boot_done_at)
        self.log("reboot", down_s=down_s, boot_s=boot_s)
        if self.on_reboot is not None:
            self.on_reboot(shutdown_s)

    # -- properties ----------------------------------------------------------------------------------------
    def getprop(self, name: str) -> str:
        """A property's value, ``""`` when unset. ``sys.boot_completed`` is ``"1"`` or ``""`` (never ``"0"``)."""
        if name in ("sys.boot_completed", "dev.bootcomplete"):
            return "1" if self.booted() else ""
        if name == "init.svc.bootanim":
            return "stopped" if self.booted() else "running"
        with self.lock:
            return self.props.get(name, "")

    def all_props(self) -> dict[str, str]:
        with self.lock:
            props = dict(self.props)
        for name in ("sys.boot_completed", "dev.bootcomplete", "init.svc.bootanim"):
            props[name] = self.getprop(name)
        return dict(sorted(props.items()))

    def setprop(self, name: str, value: str) -> bool:
        """Set a property; ``ro.*`` ones are read-only once set (returns False)."""
        with self.lock:
            if name.startswith("ro.") and name in self.props:
                return False
            self.props[name] = value
            return True

    # -- screen and input ----------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        with self.lock:
            return self.screen.current()

    def set_state(self, name: str) -> None:
        with self.lock:
            self.screen.force(name)

    def frame(self) -> Frame:
        """The current screen (black while booting; the frozen frame under ``frozen``; fault dialogs drawn), at the
        ``wm size`` override size when one is set."""
        frame = self._frame()
        size = self.size_override
        if size is None or size == (frame.width, frame.height):
            return frame
        with self.lock:
            cached = self._scaled
            if cached is None or cached[0] is not frame or cached[1] != size:
                cached = (frame, size, Frame(cv2.resize(frame.bgr, size, interpolation=cv2.INTER_AREA)))
                self._scaled = cached
            return cached[2]

    def _frame(self) -> Frame:
        if not self.booted():
            return self.renderer.black
        with self.lock:
            if self.app_faults.frozen is not None:
                return self.app_faults.frozen
            state = self.screen.current()
            return self.renderer.frame(state, self.app_faults.dialogs(self.app_running, self.log))

    def set_wm_override(self, what: str, value: str | None) -> None:
        """``wm size|density VALUE`` (``None``: ``reset``); a size override resizes every frame from now on."""
        with self.lock:
            if value is None:
                self.wm_overrides.pop(what, None)
            else:
                self.wm_overrides[what] = value
            if what == "size":
                width, _, height = (value or "").partition("x")
                self.size_override = (int(width), int(height)) if value else None
        self.log("wm", **{what: value or "reset"})

    def to_scenario(self, x: float, y: float) -> tuple[float, float]:
        """Input coordinates (in the override size, if any) → the scenario's pixels."""
        if self.size_override is None:
            return x, y
        width, height = self.size_override
        return x * self.scenario.width / width, y * self.scenario.height / height

    def tap(self, x: float, y: float, *, origin: str | None = None) -> None:
        """A tap at device pixel ``(x, y)``; ``origin`` (who sent it) goes into its event when given."""
        sender = {"origin": origin} if origin else {}
        with self.lock:
            state = self.screen.current()
            if not self.booted():
                self.log("tap", x=x, y=y, state=state, **sender)
                return
            sx, sy = self.to_scenario(x, y)
            routed = self.app_faults.tap(sx, sy, self.app_running, self.log)
            self.log("tap", x=x, y=y, state=state, **sender, **routed.detail())
            if routed.dialog == "anr.close_app":
                self.app_stop("anr close app")
            elif routed.passes:
                self.screen.tap(sx, sy)

    def swipe(self, x1: float, y1: float, x2: float, y2: float, duration_ms: int, *,
              origin: str | None = None) -> None:
        with self.lock:
            routed = self.app_faults.gesture(self.app_running)
            self.log("swipe", x1=x1, y1=y1, x2=x2, y2=y2, ms=duration_ms, state=self.state,
                     **({"origin": origin} if origin else {}), **routed.detail())

    def key(self, code: int, *, origin: str | None = None) -> None:
        sender = {"origin": origin} if origin else {}
        with self.lock:
            state = self.screen.current()
            if not self.booted():
                self.log("key", key=key_name(code), code=code, state=state, **sender)
                return
            routed = self.app_faults.key(self.app_running, self.log)
            self.log("key", key=key_name(code), code=code, state=state, **sender, **routed.detail())
            if routed.passes:
                self.screen.key(code)

    def text(self, text: str, *, origin: str | None = None) -> None:
        with self.lock:
            routed = self.app_faults.gesture(self.app_running)
            self.log("text", text=text, state=self.state, **({"origin": origin} if origin else {}),
                     **routed.detail())

    def check_dialog(self, kind: str) -> None:
        """Raise SimulatorError if fault ``kind`` draws a dialog the scenario lacks (``dialogs:``)."""
        dialog = {"popup_storm": "popup", "anr": "anr"}.get(kind)
        if dialog is not None and dialog not in self.scenario.dialogs:
            raise SimulatorError(f"fault {kind!r} needs the scenario's 'dialogs.{dialog}' "
                                 f"(scenario {self.scenario.name!r} has none)")

    def inject_app_fault(self, kind: str, options: JsonObject) -> None:
        """Arm an app-level fault (:mod:`emufleet.sim.appfaults`) with parsed options.

        Raises:
            SimulatorError: ``popup_storm``/``anr`` on a scenario without that dialog (``dialogs:``).
        """
        self.check_dialog(kind)
        with self.lock:
            self.app_faults.set(kind, options, frame=self.frame(), app_running=self.app_running, log=self.log)

    # -- the app -------------------------------------------------------------------------------------------
    def installed(self, package: str) -> bool:
        return package in (self.scenario.package, LAUNCHER[0])

    def app_start(self, activity: str | None = None) -> None:
        """Start the scenario's app (no-op if it runs): the ``on_app_start`` state, a pid, its data folder."""
        with self.lock:
            if activity:
                self.app_activity = activity
            self.screen.current()
            if self.app_running:
                return
            if self.scenario.on_app_start:
                self.screen.go(self.scenario.on_app_start, "app start")
            if not self.app_running:  # no start state, or it is the launcher itself: still a running process
                self.app_running, self.app_pid = True, next(self._pids)

    def app_stop(self, cause: str = "force-stop") -> None:
        """Stop the app (force-stop, crash, pm clear): the ``on_app_stop`` state, no pid."""
        with self.lock:
            self.screen.current()
            if self.app_running:
                self.screen.go(self.scenario.on_app_stop, cause)
            self.app_running, self.app_pid = False, None

    def crash(self) -> None:
        self.log("crash", package=self.scenario.package, state=self.state)
        self.app_stop("crash")

    def pid_of(self, name: str) -> int | None:
        with self.lock:
            if name == self.scenario.package:
                return self.app_pid
        return SYSTEM_PIDS.get(name)

    def anr_shown(self) -> bool:
        """The ``anr`` fault's dialog is on screen (it takes the window focus)."""
        with self.lock:
            return self.booted() and "anr" in self.app_faults.dialogs(self.app_running, self.log)

    def focus(self) -> tuple[str, str]:
        """The focused ``(package, activity)``: the app when it runs, else the launcher."""
        with self.lock:
            if self.app_running:
                return self.scenario.package, self.app_activity
            return LAUNCHER
