"""One debugged run of a routine on a device: the routine in a thread of its own, the :class:`Stepper` it meets at
every step, and what a pause shows (variables, the previous step's verdicts, the frame with its overlay).

The session knows nothing of locks: whoever opens it holds the instance (the CLI and the console take the instance's
lock as a bot does, :mod:`adapters.debugging`). Example::

    session = DebugSession(registry, "demo/reach_home", device, breakpoints=[Breakpoint.parse("steps[1]")])
    session.start()
    pause = session.wait()          # stopped on entry
    session.stepper.step_over()
    png = session.overlay_png()     # the frame the last image step matched on, with its region, candidate, score
    session.close()                 # stops the routine if it still runs, and joins its thread
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from emufleet.bot.evidence import render
from emufleet.debug.stepper import Breakpoint, Pause, Stepper
from emufleet.errors import EmufleetError, InputError, RoutineStopped
from emufleet.routines import BotContext, Controller, RoutineRun
from emufleet.routines.variables import VariableStore

if TYPE_CHECKING:
    from emufleet.device.interface import DeviceLike
    from emufleet.routines import RoutineRegistry

__all__ = ["DebugSession", "Outcome"]

Outcome = Literal["running", "finished", "failed", "stopped"]
_JOIN_S = 30.0


class DebugSession:
    """Runs ``routine`` (a registry key) of ``registry`` on ``device`` under a :class:`Stepper`.

    Args:
        registry: routines and their template set (``registry.templates``).
        routine: the key of the routine to debug.
        device: the device, already connected (device px).
        breakpoints: initial breakpoints; ``stop_on_entry`` pauses before the first step.
        overrides: config values (``--set``), as ``RoutineRun`` takes them.
        variables: the bot's variables before the run (``None``: empty).

    Raises:
        InputError: ``routine`` is not a valid routine of the registry.
    """

    def __init__(self, registry: RoutineRegistry, routine: str, device: DeviceLike, *,
                 breakpoints: Iterable[Breakpoint] = (), stop_on_entry: bool = True,
                 overrides: Mapping[str, str] | None = None, variables: Mapping[str, object] | None = None,
                 bot_id: str = "") -> None:
        found = registry.find(routine)
        if found is None:
            raise InputError(f"routine {routine!r} is not a valid routine of the registry")
        self.routine = found
        self.device = device
        self.stepper = Stepper(breakpoints, stop_on_entry=stop_on_entry)
        self.ctx = BotContext(device, registry.templates, registry, Controller(), VariableStore(variables),
                              on_event=self.stepper.hook, bot_id=bot_id or getattr(device, "serial", ""))
        self.stepper.bind(self.ctx, found.key)
        self._run = RoutineRun(found, self.ctx, overrides)
        self._thread = threading.Thread(target=self._main, name=f"emufleet-debug-{found.key}", daemon=True)
        self._outcome: Outcome = "running"
        self.error: str | None = None

    @property
    def outcome(self) -> Outcome:
        """``running`` (paused or not), then ``finished``, ``failed`` (:attr:`error` says why) or ``stopped``."""
        return self._outcome

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        try:
            self._run.run()
            self._outcome = "finished"
        except RoutineStopped:
            self._outcome = "stopped"
        except EmufleetError as exc:  # a routine or device error is what the person debugs: shown, not raised
            self.error, self._outcome = str(exc), "failed"
        except Exception as exc:  # noqa: BLE001 - a bug in a step must still end the session visibly
            self.error, self._outcome = f"{type(exc).__name__}: {exc}", "failed"
        finally:
            self.stepper.ended()

    def wait(self, timeout: float | None = None) -> Pause | None:
        """Block until the routine pauses or ends (or ``timeout`` s): the pause, or ``None`` when it ended."""
        return self.stepper.wait(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the routine's thread ends (or ``timeout`` s)."""
        self._thread.join(timeout)

    def frame(self) -> tuple[np.ndarray, float] | None:
        """The last frame the routine captured (device BGR) and its age in seconds; ``None`` before any."""
        latest = self.ctx.frames.latest()
        if latest is None:
            return None
        screen, at = latest
        return screen.frame, time.monotonic() - at

    def overlay(self) -> np.ndarray | None:
        """The last frame drawn with the previous step's template checks (search region, best candidate, score
        against threshold) and a banner saying where the routine is and why each check matched or not."""
        latest = self.frame()
        if latest is None:
            return None
        image, age = latest
        pause, last = self.stepper.pause, self.stepper.last
        lines = [f"paused before {pause.where()}" if pause else self.outcome]
        if last is not None:
            lines += last.lines()
        lines.append(f"frame {age:.1f} s old")
        return render(image, last.scores if last else (), lines)

    def overlay_png(self) -> bytes | None:
        """:meth:`overlay` as PNG bytes."""
        image = self.overlay()
        if image is None:
            return None
        ok, data = cv2.imencode(".png", image)
        if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
            raise InputError("the frame could not be encoded as PNG")
        return data.tobytes()

    def snapshot(self) -> dict[str, object]:
        """The session as JSON-able data: outcome, error, breakpoints, the pause (where, reason, variables) and how
        the previous step ended with each template check's verdict."""
        pause, last = self.stepper.pause, self.stepper.last
        return {
            "routine": self.routine.key,
            "outcome": self.outcome,
            "error": self.error,
            "breakpoints": [str(b) for b in self.stepper.breakpoints],
            "pause": None if pause is None else {
                "number": pause.number, "reason": pause.reason, "routine": pause.routine, "path": pause.path,
                "action": pause.action, "line": pause.line, "depth": pause.depth, "where": pause.where(),
                "variables": pause.variables},
            "last": None if last is None else {"path": last.path, "routine": last.routine, "action": last.action,
                                               "kind": last.kind, "error": last.error, "lines": last.lines()},
        }

    def close(self) -> None:
        """Stop the routine if it still runs and wait for its thread (idempotent)."""
        if self._thread.is_alive():
            self.stepper.stop()
            self._thread.join(_JOIN_S)
