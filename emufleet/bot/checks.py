"""The health checks of a bot's device, each one class registered where it is written (docs/supervision.md).

A check declares, beside the code that looks: its problem (:class:`HealthProblem`, named after the
:class:`~emufleet.bot.recovery.FaultKind` it raises when it raises one), its severity, the fault the session
recovers from (``fault``: the ladder's entry rung follows from it; ``None``: reported, never acted on), how many
consecutive checks must see it first (``confirm``), and the :class:`~emufleet.bot.health.HealthSettings` keys it
reads (``settings``). Subclassing :class:`HealthCheck` registers it; :class:`~emufleet.bot.health.HealthMonitor`
runs the registered ones. Adding a check is one new class here::

    class LowBattery(ProbeCheck):
        problem = HealthProblem("low_battery", HealthSeverity.WARNING)
        order = 40

        def see(self, probe: Probe, settings: HealthSettings) -> str | None:
            level = probe.device.shell("dumpsys battery | grep level").output
            ...

Probes (:class:`ProbeCheck`) ask the device in ``order``; the first that finds its problem ends the probing (a
device that does not answer ``echo`` is not asked for its foreground app), and a ``DeviceError`` in any probe is
``adb_down``. Frame checks (:class:`FrameCheck`) read the statistics of the bot's own captures.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from emufleet.bot.recovery import FaultKind

if TYPE_CHECKING:
    from emufleet.bot.health import HealthSettings
    from emufleet.device.interface import DeviceLike

__all__ = ["CHECKS", "FrameCheck", "Frames", "HealthCheck", "HealthProblem", "HealthSeverity", "Probe",
           "ProbeCheck", "problem_named"]

ECHO = "emufleet-health"


class HealthSeverity(IntEnum):
    """How bad a problem is; ``ERROR`` and worse make a report unhealthy."""

    OK = 0
    WARNING = 1
    ERROR = 2
    CRITICAL = 3


class HealthProblem(str):
    """What a health check found wrong: its name (the event and status spelling) with its ``severity``, the
    ``fault`` it raises (``None``: none) and the consecutive checks that must see it first (``confirm``).

    One instance per check (compare with ``is`` or ``==``). :meth:`of` names a problem after the fault it raises.
    """

    severity: HealthSeverity
    fault: FaultKind | None
    confirm: int

    def __new__(cls, name: str, severity: HealthSeverity, fault: FaultKind | None = None,
                confirm: int = 1) -> HealthProblem:
        self = super().__new__(cls, name)
        self.severity, self.fault, self.confirm = severity, fault, confirm
        return self

    @classmethod
    def of(cls, fault: FaultKind, severity: HealthSeverity, confirm: int = 1) -> HealthProblem:
        """The problem that is ``fault`` (same name)."""
        return cls(fault.value, severity, fault, confirm)


@dataclass(slots=True)
class Probe:
    """What the probes found so far (filled in ``order``): ``alive`` (``echo`` answered), ``booted``,
    ``foreground`` (``None``: not probed)."""

    device: DeviceLike
    alive: bool = False
    booted: bool | None = None
    foreground: str | None = None


@dataclass(frozen=True, slots=True)
class Frames:
    """The bot's captures as the monitor saw them: latencies (ms) of the window, whether the screen counts as
    frozen (``run`` identical waiting captures over ``span_s``), whether the last one was black, consecutive
    failures and the last error."""

    latencies: np.ndarray
    frozen: bool
    run: int
    span_s: float
    black: bool
    failures: int
    last_error: str

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(self.latencies, q)) if self.latencies.size else None


#: Every registered check, probes in ``order`` first, then frame checks in ``order``.
CHECKS: list[HealthCheck] = []


class HealthCheck:
    """A registered health check (see the module docstring)."""

    problem: ClassVar[HealthProblem]
    order: ClassVar[int] = 100
    settings: ClassVar[tuple[str, ...]] = ()
    probe_name: ClassVar[str] = ""  # what a probe asks (the ``adb_down`` message names it on a DeviceError)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "problem" in cls.__dict__:  # a concrete check, not an intermediate base
            if any(str(c.problem) == str(cls.problem) for c in CHECKS):
                raise TypeError(f"health problem {cls.problem!r} is registered twice")
            CHECKS.append(cls())
            CHECKS.sort(key=lambda c: (not isinstance(c, ProbeCheck), c.order))


class ProbeCheck(HealthCheck):
    """A check that asks the device (blocking); ``see`` may raise ``DeviceError`` (then: ``adb_down``)."""

    def see(self, probe: Probe, settings: HealthSettings) -> str | None:
        """What was seen, when this check's problem is there; ``None`` when not."""
        raise NotImplementedError


class FrameCheck(HealthCheck):
    """A check of the bot's own captures (no device call)."""

    def see(self, frames: Frames, settings: HealthSettings) -> str | None:
        """What was seen, when this check's problem is there; ``None`` when not."""
        raise NotImplementedError


def problem_named(name: str) -> HealthProblem:
    """The registered problem called ``name``; ``KeyError`` when none is."""
    for check in CHECKS:
        if check.problem == name:
            return check.problem
    raise KeyError(name)


# -- the shipped checks --------------------------------------------------------------------------------------


class AdbDown(ProbeCheck):
    """``echo`` does not answer (or a later probe fails: the device is not usable)."""

    problem = HealthProblem.of(FaultKind.ADB_DOWN, HealthSeverity.CRITICAL)
    order, probe_name = 10, "echo"

    def see(self, probe: Probe, settings: HealthSettings) -> str | None:
        answer = probe.device.shell(f"echo {ECHO}", timeout_s=settings.probe_timeout_s).output.strip()
        probe.alive = answer == ECHO
        return None if probe.alive else f"echo answered {answer[:60]!r}"


class NotBooted(ProbeCheck):
    """``sys.boot_completed`` is not ``1`` (a reboot in progress)."""

    problem = HealthProblem.of(FaultKind.NOT_BOOTED, HealthSeverity.CRITICAL)
    order, probe_name = 20, "getprop sys.boot_completed"

    def see(self, probe: Probe, settings: HealthSettings) -> str | None:
        value = probe.device.getprop("sys.boot_completed", timeout_s=settings.probe_timeout_s)
        probe.booted = value == "1"
        return None if probe.booted else f"sys.boot_completed is {value!r}"


class AppNotForeground(ProbeCheck):
    """The focused package is not ``package`` (the game crashed, or the launcher is in front). Seen twice in a
    row before it is a fault: a routine restarting the game passes through the launcher."""

    problem = HealthProblem.of(FaultKind.APP_NOT_FOREGROUND, HealthSeverity.ERROR, confirm=2)
    order, probe_name, settings = 30, "foreground app", ("package",)

    def see(self, probe: Probe, settings: HealthSettings) -> str | None:
        probe.foreground = probe.device.foreground_app()
        if settings.package is None or probe.foreground == settings.package:
            return None
        return f"foreground is {probe.foreground or 'nothing'}, not {settings.package}"


class FrozenScreen(FrameCheck):
    """The same frame over ``frozen_captures`` captures taken while the routine waits for a change, spanning at
    least ``frozen_min_s``."""

    problem = HealthProblem.of(FaultKind.FROZEN_SCREEN, HealthSeverity.ERROR)
    order, settings = 10, ("frozen_captures", "frozen_min_s")

    def see(self, frames: Frames, settings: HealthSettings) -> str | None:
        if not frames.frozen:
            return None
        return f"the same frame over {frames.run} captures in {frames.span_s:.1f} s of waiting"


class BlackScreen(FrameCheck):
    """The last capture was entirely black (a bad frame: the app is restarted)."""

    problem = HealthProblem("black_screen", HealthSeverity.ERROR, FaultKind.BAD_FRAME)
    order = 20

    def see(self, frames: Frames, settings: HealthSettings) -> str | None:
        return "the last capture was entirely black" if frames.black else None


class CaptureFailing(FrameCheck):
    """The last ``capture_failures`` captures failed (bad frames: the app is restarted)."""

    problem = HealthProblem("capture_failing", HealthSeverity.ERROR, FaultKind.BAD_FRAME)
    order, settings = 30, ("capture_failures",)

    def see(self, frames: Frames, settings: HealthSettings) -> str | None:
        if frames.failures < settings.capture_failures:
            return None
        return f"{frames.failures} captures failed; last: {frames.last_error}"


class SlowCapture(FrameCheck):
    """The median capture latency of the window reached ``latency_warn_ms`` (with ``latency_min_samples``
    captures): reported, never acted on. The median decides (one slow capture is not a slow device)."""

    problem = HealthProblem("slow_capture", HealthSeverity.WARNING)
    order, settings = 40, ("latency_warn_ms", "latency_window", "latency_min_samples")

    def see(self, frames: Frames, settings: HealthSettings) -> str | None:
        p50, p95 = frames.percentile(50), frames.percentile(95)
        if p50 is None or p95 is None or frames.latencies.size < settings.latency_min_samples \
                or p50 < settings.latency_warn_ms:
            return None
        return (f"median capture {p50:.0f} ms (p95 {p95:.0f} ms) over {frames.latencies.size} captures, "
                f"warn at {settings.latency_warn_ms:.0f}")
