"""The flight recorder on a bot session (engine, no Prefect) on the simulator through the real adb server: an
injected fault makes the bot give up; the session the recorder wrote replays offline to the same failure."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emufleet.bot import BotEvent, BotSession, BotSpec, EngineAssets, RecoverySettings
from emufleet.groups import BotState, RestartPolicy
from emufleet.groups.definition import RestartMode
from emufleet.routines import RoutineRegistry
from emufleet.sessions import Session, replay
from emufleet.sessions.flight import FlightObserver, FlightRecorder, RecordSettings
from emufleet.sessions.format import FrameEvent, InputEvent
from emufleet.sessions.recording import Entry
from emufleet.vision import TemplateSet

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

ROUTINE = """
    version: 1
    routine_name: open the pack screen
    steps:
      - action: UntilImageFound
        template: OpenPack
        max_attempts: 5
        actions:
          - {action: ClickIfImageFound, template: Pack}
          - {action: Sleep, duration: 300ms}
    """


class Observer:
    def __init__(self) -> None:
        self.events: list[BotEvent] = []

    def status(self, status: Any) -> None:
        pass

    def event(self, event: BotEvent) -> None:
        self.events.append(event)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[Any]) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass


def test_a_give_up_writes_the_ring_as_a_session_that_replays_to_the_same_failure(
        simulator: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "routines" / "t").mkdir(parents=True)
    (tmp_path / "routines" / "t" / "pack.yaml").write_text(textwrap.dedent(ROUTINE))
    registry = RoutineRegistry.load(tmp_path / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    assert registry.invalid() == {}
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    inst.inject_fault("stuck_app")  # taps on Pack are swallowed: the pack screen never comes
    spec = BotSpec(group="t", bot=0, instance=inst.serial, routine="t/pack",
                   restart_policy=RestartPolicy(mode=RestartMode.NEVER),
                   recovery=RecoverySettings.model_validate({"budget": {"failures": 1}}))
    recorder = FlightRecorder(RecordSettings(), serial=inst.serial, routine="t/pack", folder=tmp_path / "flight")
    written: list[tuple[Path, str]] = []
    observer = FlightObserver(Observer(), recorder, on_session=lambda folder, why: written.append((folder, why)))
    executor = ThreadPoolExecutor(8)

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    async def main() -> Any:
        session = BotSession(spec, EngineAssets(registry.templates, registry), call=call, observer=observer,
                             connect=recorder.recording.connect(inst.serial, 30.0),
                             on_step=recorder.recording.on_step())
        return await asyncio.wait_for(session.run(), timeout=120)

    try:
        result = asyncio.run(main())
    finally:
        executor.shutdown(wait=True)
    assert result.gave_up and result.state is BotState.FAILED
    sessions = observer.wait()
    assert [why.split(":")[0] for _, why in written] == ["gave up"] and sessions == [written[0][0]]

    session = Session(sessions[0])
    assert session.header.reason.startswith("gave up") and session.end is not None
    assert session.end.step is not None and session.end.step.path == "steps[0]"
    assert "after 5 attempts" in (session.end.error or "")
    taps = [e for e in session.inputs if e.kind == "tap" and e.by == "routine"]
    assert len(taps) == 5, "every swallowed tap on Pack is in the session"

    report = replay(session, "t/pack", registry)
    assert report.divergences == 0, report.lines()
    assert report.outcome == "failed" and report.reproduced, report.lines()
    assert report.failure is not None and report.failure[0].path == "steps[0]"
    assert report.inputs == 5
    assert any(f.step.action == "UntilImageFound" for f in report.failed_steps)


def test_the_ring_keeps_its_bounds_and_shares_repeated_frames(tmp_path: Path) -> None:
    recorder = FlightRecorder(RecordSettings(seconds=10, max_frames=3), serial="s", routine=None,
                              folder=tmp_path)
    screens = [np.full((8, 8, 3), i, np.uint8) for i in range(5)]
    t = 1000.0
    for i in (0, 0, 1, 1, 1, 2):
        recorder.add(Entry(FrameEvent(t=t, frame=""), image=screens[i].copy()))
        t += 1
    assert recorder.frames == 3 and len(recorder.snapshot()[0]) == 6, "equal captures share one array"
    recorder.add(Entry(FrameEvent(t=t, frame=""), image=screens[3]))
    entries, _ = recorder.snapshot()
    assert recorder.frames == 3 and len(entries) == 5, "the oldest distinct frame went, with its repeat"
    recorder.add(Entry(InputEvent(t=t + 30, kind="tap", args={"x": 1, "y": 2})))
    entries, _ = recorder.snapshot()
    assert [type(e.event) for e in entries] == [InputEvent], "nothing older than 10 s stays"
    folder = recorder.write("operator")
    assert folder is not None and Session(folder).inputs[0].args == {"x": 1, "y": 2}
