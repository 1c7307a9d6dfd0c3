"""Replaying a routine against a recorded session, offline: :func:`replay` and its :class:`ReplayReport`.

The routine runs as a bot would run it (:class:`~emufleet.routines.RoutineRun`: config, sentries, steps) on a
:class:`~emufleet.sessions.replay.ReplayDevice` and a :class:`~emufleet.sessions.replay.ReplayClock`. A replay
**diverges** when the routine sends an input the session did not expect, stops sending the one it expected, ends
while the session still expected input, or ends otherwise than the session did (it failed where the recording
finished, or at another step than the recorded failure). No emulator, adb server or Prefect server is needed; the
same session and routine give the same report every time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from emufleet.errors import ReplayDivergence, RoutineError
from emufleet.routines import BotContext, RoutineRun, StepEvent
from emufleet.routines.context import MatchScore
from emufleet.routines.registry import RoutineRegistry
from emufleet.sessions.format import Session, StepRef
from emufleet.sessions.recording import StepTracker
from emufleet.sessions.replay import DEFAULT_STALL_CAPTURES, Divergence, ReplayClock, ReplayDevice, VirtualFrameCache

__all__ = ["FailedStep", "ReplayReport", "replay"]


@dataclass(frozen=True, slots=True)
class FailedStep:
    """An image step that failed during the replay, with its error and template checks (the overlay's data)."""

    step: StepRef
    error: str | None
    scores: tuple[MatchScore, ...]


@dataclass
class ReplayReport:
    """What a replay did: ``steps`` run (every nesting level), ``inputs`` matched, ``frames`` served, the first
    ``divergence`` (``None``: none), every image step that failed, and how the routine ended (``outcome``
    ``finished`` or ``failed``; ``failure`` its failing step and error; ``reproduced``: the session ended with that
    same failing step)."""

    session: Path
    routine: str
    steps: int = 0
    inputs: int = 0
    frames: int = 0
    divergence: Divergence | None = None
    failed_steps: list[FailedStep] = field(default_factory=list)
    outcome: str = "finished"
    failure: tuple[StepRef, str | None] | None = None
    reproduced: bool = False
    overlay: Path | None = None
    scores: dict[str, tuple[MatchScore, ...]] = field(default_factory=dict)

    @property
    def divergences(self) -> int:
        return 0 if self.divergence is None else 1

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def summary(self) -> str:
        """The last line of ``emufleet sessions replay``."""
        return f"steps={self.steps} inputs={self.inputs} frames={self.frames} divergences={self.divergences}"

    def lines(self) -> list[str]:
        """The report as text: failed image steps, the outcome, the divergence and its overlay, the summary."""
        out = [f"failed image step: {f.step}: {f.error} ({_checks(f.scores)})" for f in self.failed_steps]
        if self.failure is not None:
            again = " (the session ended with the same failure)" if self.reproduced else ""
            out.append(f"routine failed at {self.failure[0]}: {self.failure[1]}{again}")
        else:
            out.append(f"routine {self.outcome}")
        if self.divergence is not None:
            d = self.divergence
            out.append(f"first divergence at input {d.index + 1}: {d.message}")
            step = d.expected_step or d.step
            if step is not None:
                out.append(f"divergence step: {step} ({_checks(self.scores.get(_key(step), ()))})")
            if self.overlay is not None:
                out.append(f"overlay: {self.overlay}")
        out.append(self.summary())
        return out


def _key(step: StepRef) -> str:
    return f"{step.routine}:{step.path}"


def _checks(scores: tuple[MatchScore, ...]) -> str:
    if not scores:
        return "no template checks"
    return " ".join(f"{s.template}={s.score:.3f}{'>=' if s.found else '<'}{s.threshold:g}"
                    if s.score is not None and s.threshold is not None else f"{s.template}=-" for s in scores[-4:])


def replay(session: Session | str | Path, routine: str, registry: RoutineRegistry, *,
           overrides: Mapping[str, object] | None = None, stall_captures: int = DEFAULT_STALL_CAPTURES,
           overlay_dir: Path | None = None) -> ReplayReport:
    """Replay ``routine`` (a key of ``registry``, whose template set it matches with) against ``session``.

    ``overrides`` are the routine's config values (as ``--set``); ``overlay_dir`` (created) receives
    ``divergence.png``: the frame of the divergence with the checks of its step drawn (see
    :func:`emufleet.bot.evidence.render`).

    Raises:
        SessionFormatError: the session cannot be read. RoutineError: ``routine`` is not in the registry.
    """
    session = session if isinstance(session, Session) else Session(session)
    report = ReplayReport(session.folder, routine)
    tracker = StepTracker()
    clock = ReplayClock()
    device = ReplayDevice(session, steps=tracker, clock=clock, stall_captures=stall_captures)

    def on_event(event: StepEvent) -> None:
        tracker.on_step(event)
        if event.kind == "started":
            return
        report.steps += 1
        ref = StepRef(routine=event.routine, path=event.path, action=event.action)
        if event.scores:
            report.scores[_key(ref)] = event.scores
        if event.kind == "failed" and event.scores and device.divergence is None and not any(
                f.step.routine == ref.routine and ref.path.startswith(f.step.path) for f in report.failed_steps):
            report.failed_steps.append(FailedStep(ref, event.error, event.scores))

    ctx = BotContext(device, registry.templates, registry, clock, on_event=on_event, bot_id=f"replay:{session.folder}")
    ctx.frames = VirtualFrameCache(clock)
    run = RoutineRun(registry.get(routine), ctx, overrides)
    try:
        run.run()
    except ReplayDivergence:
        report.outcome = "diverged"
    except RoutineError as exc:
        report.outcome = "failed"
        report.failure = tracker.failure or (StepRef(routine=routine, path="", action=""), str(exc))
    report.inputs, report.frames = device.inputs_matched, device.frames_served
    _compare_ends(report, session, device)
    if report.divergence is not None and overlay_dir is not None:
        report.overlay = _overlay(report, session, overlay_dir)
    return report


def _compare_ends(report: ReplayReport, session: Session, device: ReplayDevice) -> None:
    """The divergence of a routine that ended: input still expected, or another end than the session's."""
    recorded = session.end
    if device.divergence is None and report.outcome != "diverged":
        if device.inputs_left:
            how = f"failed at {report.failure[0]}" if report.failure else "finished"
            device.diverge(f"the routine {how}; the session still expected {device.inputs_left} input(s)")
        elif report.failure is not None:
            step, _ = report.failure
            same = recorded is not None and recorded.step is not None and recorded.step.path == step.path and \
                recorded.step.routine == step.routine
            if same:
                report.reproduced = True
            elif recorded is None or recorded.step is None:
                device.diverge(f"the routine failed at {step}; the session ended {recorded.reason if recorded else ''}"
                               f" without a failure")
            else:
                device.diverge(f"the routine failed at {step}; the session failed at {recorded.step}")
        elif recorded is not None and recorded.step is not None:
            device.diverge(f"the routine finished; the session failed at {recorded.step}: {recorded.error}")
    report.divergence = device.divergence


def _overlay(report: ReplayReport, session: Session, folder: Path) -> Path | None:
    from emufleet.bot.evidence import render

    divergence = report.divergence
    assert divergence is not None
    if divergence.frame is None:
        return None
    step = divergence.expected_step or divergence.step
    scores = report.scores.get(_key(step), ()) if step is not None else ()
    image = render(session.frame(divergence.frame), scores, [divergence.message, f"{step}: {_checks(scores)}"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "divergence.png"
    if not cv2.imwrite(str(path), image):
        raise OSError(f"could not write {path}")
    return path
