"""The step debugger's engine on the simulator (through the real adb server): entry pause, step over, step into a
sub-routine, a breakpoint in it, the variables and the overlay of the image step that just ran, step out, the end;
and a stop while paused."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from emufleet.debug import Breakpoint, DebugSession, Pause
from emufleet.errors import InputError
from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet

REPO = Path(__file__).resolve().parents[2]
WAIT_S = 120.0

OUTER = """\
version: 1
routine_name: outer
steps:
  - {action: SetVariable, name: x, value: "1"}
  - {action: RunRoutine, routine: demo/reach_home}
  - {action: SetVariable, name: done, value: "yes"}
"""


@pytest.fixture
def registry(tmp_path: Path) -> RoutineRegistry:
    (tmp_path / "demo").mkdir()
    shutil.copy(REPO / "routines" / "demo" / "reach_home.yaml", tmp_path / "demo" / "reach_home.yaml")
    (tmp_path / "dbg").mkdir()
    (tmp_path / "dbg" / "outer.yaml").write_text(OUTER)
    reg = RoutineRegistry.load(tmp_path, TemplateSet.load(REPO / "templates" / "registry.yaml"))
    assert reg.invalid() == {}
    return reg


def _paused(session: DebugSession) -> Pause:
    pause = session.wait(WAIT_S)
    assert pause is not None, f"no pause: {session.outcome} {session.error}"
    return pause


def test_breakpoints_steps_variables_and_overlay(simulator: Callable[..., Any], registry: RoutineRegistry) -> None:
    from emufleet.device import connect

    inst = simulator(instances=1, scenario="demo").instances[0]
    device = connect(inst.serial)
    stop_at = Breakpoint.parse("demo/reach_home:steps[1].actions[0]")
    session = DebugSession(registry, "dbg/outer", device, breakpoints=[stop_at])
    session.start()
    try:
        first = _paused(session)
        assert (first.number, first.reason, first.path, first.depth) == (1, "entry", "steps[0]", 0)
        assert session.frame() is None and session.overlay() is None  # nothing captured yet
        session.stepper.step_over()
        run = _paused(session)
        assert (run.routine, run.path, run.action, run.variables.get("x")) == ("dbg/outer", "steps[1]",
                                                                                "RunRoutine", "1")
        session.stepper.step_into()
        inner = _paused(session)
        assert (inner.routine, inner.path, inner.depth, inner.reason) == ("demo/reach_home", "steps[0]", 1, "step")
        session.stepper.resume()
        hit = _paused(session)
        assert (hit.reason, hit.routine, hit.path, hit.action, hit.depth) == (
            "breakpoint", "demo/reach_home", "steps[1].actions[0]", "If", 2)
        assert hit.variables["calm_left"] == "6" and inst.state == "launcher"
        session.stepper.step_over()  # the If runs: its image checks, a tap on the app icon; the loop comes back
        again = _paused(session)
        assert again.path == "steps[1].actions[0]" and again.number == hit.number + 1
        last = session.stepper.last
        assert last is not None and last.action == "If" and last.kind == "finished"
        templates = {s.template for s in last.scores}
        assert {"Main", "AppIcon"} <= templates, templates
        icon = next(s for s in last.scores if s.template == "AppIcon")
        assert icon.found and any("AppIcon" in line and ": found at (" in line for line in last.lines())
        raw = session.frame()
        drawn = session.overlay()
        assert raw is not None and drawn is not None
        assert drawn.shape == raw[0].shape == (960, 540, 3)
        assert not np.array_equal(drawn, raw[0]), "the overlay draws the checks and the banner"
        assert (session.overlay_png() or b"").startswith(b"\x89PNG")
        snap = session.snapshot()
        assert snap["pause"]["where"].startswith("demo/reach_home:steps[1].actions[0] If")  # type: ignore[index]

        session.stepper.set_breakpoints([])
        session.stepper.step_out()  # out of the loop: the sub-routine runs to a calm home screen
        out = _paused(session)
        assert (out.routine, out.path, out.depth) == ("dbg/outer", "steps[2]", 0)
        assert out.variables["calm_left"] == "0" and inst.state == "home_ready"
        session.stepper.step_over()
        assert session.wait(WAIT_S) is None
        assert session.outcome == "finished", session.error
        assert session.ctx.variables.get("done") == "yes"
    finally:
        session.close()


def test_stop_while_paused_ends_the_run_and_commands_need_a_pause(simulator: Callable[..., Any],
                                                                  registry: RoutineRegistry) -> None:
    from emufleet.device import connect

    inst = simulator(instances=1, scenario="demo").instances[0]
    session = DebugSession(registry, "demo/reach_home", connect(inst.serial), stop_on_entry=False,
                           breakpoints=[Breakpoint.parse("12")])  # line 12 is no step: runs to the end unless stopped
    session.stepper.set_breakpoints([Breakpoint(path="steps[1]")])
    session.start()
    try:
        assert _paused(session).path == "steps[1]"
        session.stepper.stop()
        assert session.wait(WAIT_S) is None
        assert session.outcome == "stopped"
        with pytest.raises(InputError, match="not paused"):
            session.stepper.step_over()
        assert inst.state == "launcher", "nothing ran after the stop"
    finally:
        session.close()
    with pytest.raises(InputError, match="breakpoint 'steps\\[x\\]'"):
        Breakpoint.parse("steps[x]")
    with pytest.raises(InputError, match="not a valid routine"):
        DebugSession(registry, "nope/none", connect(inst.serial))
