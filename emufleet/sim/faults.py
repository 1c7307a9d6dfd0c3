"""Fault injection: what can go wrong with a simulated instance, and the options of each fault.

=================  ========================================================  ====================================
kind               effect                                                    options (default)
=================  ========================================================  ====================================
``drop``           the next matching call sends half its output, then the    ``on`` = screencap | shell | sync |
                   TCP connection is cut (a mid-stream drop)                 any (screencap); ``count`` (1)
``refuse``         emulator off: the port is closed (connection refused),    —
                   existing connections are cut
``silent``         connections are accepted but CNXN is never answered       —
                   (the adb server keeps the device ``offline``)
``reboot``         connections cut; the port accepts-and-closes for          ``down_s`` (2.0), ``boot_s`` (3.0)
                   ``down_s``, then serves with ``sys.boot_completed`` ""
                   for ``boot_s``; the screen restarts at ``initial``
``black_screen``   every capture is entirely black                           —
``corrupt_screen`` captures are truncated (PNG undecodable, raw short)       —
``latency``        commands take longer, per class                           ``screencap_ms``, ``input_ms``,
                                                                             ``am_ms``, ``shell_ms`` (0)
``crash``          the app crashes: launcher state, ``pidof`` empty          —
``frozen``         captures return the frame shown at injection; all input   ``cleared_by`` = app | reboot |
                   is ignored (the app runs on behind the frozen display)    clear (app)
``stuck_app``      input to the app is ignored; the screen still renders     ``cleared_by`` (app)
``popup_storm``    the game's offer popup appears over the screen; its       ``interval_s`` (3.0), ``count``
                   close button dismisses it, the next comes ``interval_s``  (5; 0 = until cleared)
                   later, until ``count`` were closed
``anr``            "<app> isn't responding" over the screen: *Wait*          —
                   dismisses it, *Close app* kills the app
``refused_account`` the game's server refuses one account (banned,          ``account`` (required): its
                   expired): a ``requires_file`` guard treats a file         ``device_account``; injected
                   holding it as absent, so the demo game's login shows      again, another account is added
                   the guest ``welcome`` screen instead of ``home``
=================  ========================================================  ====================================

``refused_account`` is bound to an account, not to the device: inject it on every instance the account may be
played on (a refused account fails wherever it goes; the farm's account quarantine is tested with it).
``reboot`` and ``crash`` act once; the others stay until cleared (``drop`` until it has fired ``count`` times).
The app-level faults (``frozen`` … ``anr``, :mod:`emufleet.sim.appfaults`) also end by themselves: with the app
(``cleared_by: app``: force-stop, crash, *Close app*, reboot), with a reboot (``cleared_by: reboot``), when the
storm's last popup is closed, when the ANR dialog is answered. ``popup_storm`` and ``anr`` draw the scenario's
``dialogs`` (the demo's: ``docs/demo-game.md``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping

import defusedxml
import defusedxml.ElementTree as SafeET

from emufleet.boundary import JsonObject, YamlValue
from emufleet.errors import SimulatorError

__all__ = ["CLEARED_BY", "DROP_CLASSES", "DropConnection", "FAULT_KINDS", "FaultState", "LATENCY_CLASSES",
           "parse_fault"]

DROP_CLASSES = ("screencap", "shell", "sync", "any")
LATENCY_CLASSES = ("screencap", "input", "am", "shell")

FAULT_KINDS: dict[str, JsonObject] = {
    "drop": {"on": "screencap", "count": 1},
    "refuse": {},
    "silent": {},
    "reboot": {"down_s": 2.0, "boot_s": 3.0},
    "black_screen": {},
    "corrupt_screen": {},
    "latency": {f"{cls}_ms": 0.0 for cls in LATENCY_CLASSES},
    "crash": {},
    "frozen": {"cleared_by": "app"},
    "stuck_app": {"cleared_by": "app"},
    "popup_storm": {"interval_s": 3.0, "count": 5},
    "anr": {},
    "refused_account": {"account": ""},
}
CLEARED_BY = ("app", "reboot", "clear")


class DropConnection(Exception):
    """Raised inside a service by an armed ``drop`` fault: send ``partial``, then cut the TCP connection."""

    def __init__(self, partial: bytes = b"") -> None:
        super().__init__("connection dropped by fault injection")
        self.partial = partial


def parse_fault(kind: str, options: Mapping[str, YamlValue] | None = None) -> JsonObject:
    """Check a fault kind and its options; returns every option (defaults filled, CLI strings converted).

    Raises:
        SimulatorError: unknown kind or option, or a value of the wrong type or out of range.
    """
    if kind not in FAULT_KINDS:
        raise SimulatorError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    defaults = FAULT_KINDS[kind]
    out = dict(defaults)
    for key, value in (options or {}).items():
        if key not in defaults:
            known = ", ".join(defaults) or "none"
            raise SimulatorError(f"fault {kind!r} has no option {key!r} (options: {known})")
        kind_of = type(defaults[key])
        try:
            out[key] = kind_of(value)
        except (TypeError, ValueError) as exc:
            raise SimulatorError(f"fault {kind!r}: {key}={value!r} is not a {kind_of.__name__}") from exc
        if isinstance(out[key], int | float) and out[key] < 0:
            raise SimulatorError(f"fault {kind!r}: {key} must be ≥ 0")
    if kind == "drop" and out["on"] not in DROP_CLASSES:
        raise SimulatorError(f"fault 'drop': on={out['on']!r} (choose from {', '.join(DROP_CLASSES)})")
    if kind == "refused_account" and not str(out["account"]).strip():
        raise SimulatorError("fault 'refused_account' needs account=<device_account>")
    if "cleared_by" in out and out["cleared_by"] not in CLEARED_BY:
        raise SimulatorError(f"fault {kind!r}: cleared_by={out['cleared_by']!r} (choose from {', '.join(CLEARED_BY)})")
    return out


class FaultState:
    """The standing faults of one instance (thread-safe: set from tests, read by the server loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.refuse = False
        self.silent = False
        self.black_screen = False
        self.corrupt_screen = False
        self.latency_ms: dict[str, float] = {}
        self._drops: dict[str, int] = {}
        self.refused_accounts: set[str] = set()

    def set(self, kind: str, options: Mapping[str, YamlValue]) -> None:
        """Arm a standing fault (``refuse``, ``silent``, ``black_screen``, ``corrupt_screen``, ``latency``,
        ``drop``, ``refused_account``); the one-shot kinds are acted on by the instance."""
        with self._lock:
            if kind == "refused_account":
                self.refused_accounts.add(str(options["account"]))
            elif kind == "drop":
                self._drops[options["on"]] = self._drops.get(options["on"], 0) + int(options["count"])
            elif kind == "latency":
                for cls in LATENCY_CLASSES:
                    if options.get(f"{cls}_ms"):
                        self.latency_ms[cls] = float(options[f"{cls}_ms"])
            elif kind in ("refuse", "silent", "black_screen", "corrupt_screen"):
                setattr(self, kind, True)
            else:
                raise SimulatorError(f"fault {kind!r} is not a standing fault")

    def clear(self, kind: str | None = None) -> None:
        """Clear one standing fault kind, or all of them."""
        with self._lock:
            for name in ("refuse", "silent", "black_screen", "corrupt_screen"):
                if kind in (None, name):
                    setattr(self, name, False)
            if kind in (None, "latency"):
                self.latency_ms.clear()
            if kind in (None, "drop"):
                self._drops.clear()
            if kind in (None, "refused_account"):
                self.refused_accounts.clear()

    def refuses(self, data: bytes) -> bool:
        """Whether a file's content (an Android SharedPreferences XML) holds a refused account as an element's
        text; a file that is not XML holds none."""
        with self._lock:
            refused = set(self.refused_accounts)
        if not refused:
            return False
        try:  # the file is whatever was pushed to the device: parsed as untrusted XML
            root = SafeET.fromstring(data)
        except (SafeET.ParseError, defusedxml.DefusedXmlException):
            return False
        return any((element.text or "").strip() in refused for element in root.iter())

    def take_drop(self, *classes: str) -> bool:
        """Consume one armed drop matching any of ``classes`` (or ``any``); ``True`` if the call must drop."""
        with self._lock:
            for cls in (*classes, "any"):
                if self._drops.get(cls, 0) > 0:
                    self._drops[cls] -= 1
                    if not self._drops[cls]:
                        del self._drops[cls]
                    return True
            return False

    async def delay(self, cls: str) -> None:
        """Sleep the injected latency of a command class (no-op when none: never sleeps in the hot path)."""
        ms = self.latency_ms.get(cls, 0.0)
        if ms > 0:
            await asyncio.sleep(ms / 1000.0)

    def describe(self) -> JsonObject:
        """The standing faults, for ``status`` output."""
        with self._lock:
            out: JsonObject = {k: True for k in ("refuse", "silent", "black_screen", "corrupt_screen")
                                   if getattr(self, k)}
            if self.latency_ms:
                out["latency"] = {f"{k}_ms": v for k, v in self.latency_ms.items()}
            if self._drops:
                out["drop"] = dict(self._drops)
            if self.refused_accounts:
                out["refused_account"] = sorted(self.refused_accounts)
            return out
