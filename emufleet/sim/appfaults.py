"""The app-level faults of one instance: a frozen display, a stuck app, a popup storm, an ANR dialog.

:class:`AppFaults` decides what these faults do to the screen and to input; :class:`~emufleet.sim.device.DeviceModel`
asks it (under its lock) which dialogs to draw over the current state and where each tap or key goes:

* ``frozen``: every capture returns the frame shown when the fault was injected; all input is ignored. The app keeps
  running behind the frozen display (timers fire), as when an emulator's renderer hangs.
* ``stuck_app``: input to the app is ignored (the launcher and system dialogs still answer); the screen renders.
* ``popup_storm``: the game's offer popup (the scenario's ``dialogs.popup``) appears over the current screen; taps
  anywhere but its close button are swallowed; closing it schedules the next one ``interval_s`` later, until
  ``count`` popups were closed (``0``: until cleared). Popups show only while the app runs.
* ``anr``: the system's "<app> isn't responding" dialog (``dialogs.anr``) over the screen while the app runs:
  *Wait* dismisses it, *Close app* kills the app (the launcher). Other input is swallowed.

``frozen`` and ``stuck_app`` end with the app (``cleared_by: app``, the default: force-stop, crash, *Close app*,
reboot), only with a reboot (``cleared_by: reboot``), or only when cleared (``cleared_by: clear``), so that each
rung of a recovery ladder has a fault it fixes. Input precedence: frozen, then the ANR dialog, then a stuck app,
then the popup, then the screen.

Not thread-safe on its own: the device model serialises access with its lock.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from emufleet.boundary import JsonObject, YamlValue
from emufleet.sim.render import Frame
from emufleet.sim.scenario import Dialog

__all__ = ["APP_FAULTS", "AppFaults", "Routed"]

APP_FAULTS = ("frozen", "stuck_app", "popup_storm", "anr")
Log = Callable[..., None]


@dataclass(frozen=True, slots=True)
class Routed:
    """Where one input went: swallowed (``ignored``: frozen, stuck_app, popup, anr dialog), a fault dialog's button
    (``dialog``: popup.close, anr.wait, anr.close_app), or neither: the screen below gets it."""

    ignored: str | None = None
    dialog: str | None = None

    @property
    def passes(self) -> bool:
        return self.ignored is None and self.dialog is None

    def detail(self) -> dict[str, str]:
        """The fields this adds to the input's event."""
        return {k: v for k, v in (("ignored", self.ignored), ("dialog", self.dialog)) if v is not None}


PASS = Routed()


@dataclass
class _Storm:
    interval_s: float
    left: int | None          # popups still to close; None: until cleared
    next_at: float            # monotonic time the next popup is up
    number: int = 1           # 1-based number of the popup up (or next)
    logged: bool = False      # its "shown" event is in the log


class AppFaults:
    """Standing app-level faults of one instance. ``clock`` is monotonic seconds."""

    def __init__(self, dialogs: Mapping[str, Dialog], clock: Callable[[], float] = time.monotonic) -> None:
        self._dialogs = dialogs
        self._clock = clock
        self.frozen: Frame | None = None
        self.frozen_by = "app"
        self.stuck_by: str | None = None
        self.storm: _Storm | None = None
        self.anr = False
        self._anr_logged = False

    # -- arming and clearing -----------------------------------------------------------------------------------
    def set(self, kind: str, options: Mapping[str, YamlValue], *, frame: Frame, app_running: bool, log: Log) -> None:
        """Arm ``kind`` (one of :data:`APP_FAULTS`) with parsed options; ``frame`` is what the screen shows now."""
        if kind == "frozen":
            self.frozen, self.frozen_by = frame, str(options["cleared_by"])
        elif kind == "stuck_app":
            self.stuck_by = str(options["cleared_by"])
        elif kind == "popup_storm":
            count = int(options["count"])
            self.storm = _Storm(float(options["interval_s"]), count or None, self._clock())
        elif kind == "anr":
            if app_running:
                self.anr, self._anr_logged = True, False
            else:
                log("fault", kind="end", fault="anr", cause="the app is not running")

    def clear(self, kind: str | None = None) -> None:
        """Clear one app fault kind, or all of them."""
        if kind in (None, "frozen"):
            self.frozen = None
        if kind in (None, "stuck_app"):
            self.stuck_by = None
        if kind in (None, "popup_storm"):
            self.storm = None
        if kind in (None, "anr"):
            self.anr = False

    def app_stopped(self, *, reboot: bool, log: Log) -> None:
        """The app stopped (force-stop, crash, *Close app*) or the device rebooted: end what that fixes."""
        cause = "reboot" if reboot else "app stopped"
        if self.frozen is not None and (self.frozen_by == "app" or (reboot and self.frozen_by == "reboot")):
            self.frozen = None
            log("fault", kind="end", fault="frozen", cause=cause)
        if self.stuck_by is not None and (self.stuck_by == "app" or (reboot and self.stuck_by == "reboot")):
            self.stuck_by = None
            log("fault", kind="end", fault="stuck_app", cause=cause)
        if self.anr:
            self.anr = False
            log("fault", kind="end", fault="anr", cause=cause)

    # -- screen ------------------------------------------------------------------------------------------------
    def dialogs(self, app_running: bool, log: Log) -> tuple[str, ...]:
        """The dialogs drawn over the screen now, bottom first (logging each one the first time it shows)."""
        shown: list[str] = []
        storm = self.storm
        if app_running and storm is not None and self._clock() >= storm.next_at:
            shown.append("popup")
            if not storm.logged:
                storm.logged = True
                log("dialog", dialog="popup", action="shown", n=storm.number)
        if app_running and self.anr:
            shown.append("anr")
            if not self._anr_logged:
                self._anr_logged = True
                log("dialog", dialog="anr", action="shown")
        return tuple(shown)

    # -- input -------------------------------------------------------------------------------------------------
    def tap(self, x: float, y: float, app_running: bool, log: Log) -> Routed:
        """Route a tap at device pixel ``(x, y)``; a dialog button it presses takes effect here, except
        ``anr.close_app``, whose app kill is the caller's."""
        if self.frozen is not None:
            return Routed("frozen")
        shown = self.dialogs(app_running, log)
        if "anr" in shown:
            button = self._dialogs["anr"].button_at(x, y)
            if button is None:
                return Routed("anr dialog")
            self.anr = False
            log("dialog", dialog="anr", action=button)
            return Routed(dialog=f"anr.{button}")
        if self.stuck_by is not None and app_running:
            return Routed("stuck_app")
        if "popup" in shown:
            if self._dialogs["popup"].button_at(x, y) != "close":
                return Routed("popup")
            self._close_popup(log)
            return Routed(dialog="popup.close")
        return PASS

    def key(self, app_running: bool, log: Log) -> Routed:
        """Route a key event: swallowed by a fault, or passed to the screen (dialogs take no keys)."""
        if self.frozen is not None:
            return Routed("frozen")
        shown = self.dialogs(app_running, log)
        if "anr" in shown:
            return Routed("anr dialog")
        if self.stuck_by is not None and app_running:
            return Routed("stuck_app")
        return Routed("popup") if "popup" in shown else PASS

    def gesture(self, app_running: bool) -> Routed:
        """Route a swipe or typed text: without effect on a frozen display or a stuck app."""
        if self.frozen is not None:
            return Routed("frozen")
        return Routed("stuck_app") if self.stuck_by is not None and app_running else PASS

    def _close_popup(self, log: Log) -> None:
        storm = self.storm
        assert storm is not None
        log("dialog", dialog="popup", action="closed", n=storm.number)
        if storm.left is not None:
            storm.left -= 1
            if storm.left <= 0:
                self.storm = None
                log("fault", kind="end", fault="popup_storm", cause=f"{storm.number} popups closed")
                return
        storm.number += 1
        storm.logged = False
        storm.next_at = self._clock() + storm.interval_s

    def describe(self) -> JsonObject:
        """The active app faults, for ``status`` output."""
        out: JsonObject = {}
        if self.frozen is not None:
            out["frozen"] = {"cleared_by": self.frozen_by}
        if self.stuck_by is not None:
            out["stuck_app"] = {"cleared_by": self.stuck_by}
        if self.storm is not None:
            out["popup_storm"] = {"interval_s": self.storm.interval_s, "left": self.storm.left,
                                  "up": self._clock() >= self.storm.next_at}
        if self.anr:
            out["anr"] = True
        return out
