"""The studio benchmark's replay figures (``benchmarks/studio.py``): a demo routine recorded live on a simulated
device, replayed offline from its session, and replayed again with a template's region moved, which must diverge at
the step that checks it."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import yaml

from emufleet.routines import RoutineRegistry, StepEvent
from emufleet.vision import TemplateSet

__all__ = ["replay_figures"]

REPO = Path(__file__).resolve().parent.parent


def replay_figures(serial: str, folder: Path) -> tuple[float, float, int, int]:
    """Record demo/reach_home on ``serial``, replay it, and replay it with TapToStart's region moved: (live steps/s,
    replay steps/s, divergences, mutated divergence found)."""
    from emufleet.device import connect
    from emufleet.routines import BotContext, RoutineRun
    from emufleet.sessions import RecordingDevice, SessionWriter, StepTracker, replay

    shipped = RoutineRegistry.load(REPO / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    tracker, live_steps = StepTracker(), [0]

    def on_step(event: StepEvent) -> None:
        tracker.on_step(event)
        live_steps[0] += event.kind != "started"

    session_dir = folder / "reach_home"
    started = time.perf_counter()
    with SessionWriter(session_dir, serial=serial, routine="demo/reach_home") as writer:
        device = RecordingDevice(connect(serial), writer.add, tracker)
        ctx = BotContext(device, shipped.templates, shipped, on_event=on_step)
        RoutineRun(shipped.get("demo/reach_home"), ctx, {"settle_checks": "5"}).run()
        writer.finish(tracker.end_event("finished"))
    live_rate = live_steps[0] / (time.perf_counter() - started)
    started = time.perf_counter()
    report = replay(session_dir, "demo/reach_home", shipped, overrides={"settle_checks": "5"})
    replay_rate = report.steps / (time.perf_counter() - started)
    templates = folder / "templates"
    shutil.copytree(REPO / "templates", templates)
    data = yaml.safe_load((templates / "registry.yaml").read_text())
    next(t for t in data["templates"] if t["name"] == "TapToStart")["region"] = {"x1": 98, "y1": 60, "x2": 179,
                                                                                 "y2": 98}
    (templates / "registry.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    mutated = RoutineRegistry.load(REPO / "routines", TemplateSet.load(templates / "registry.yaml"))
    broken = replay(session_dir, "demo/reach_home", mutated, overrides={"settle_checks": "5"})
    step = broken.divergence.expected_step if broken.divergence else None
    found = int(step is not None and step.action == "ClickIfImageFound"
                and any(s.template == "TapToStart" for s in broken.scores.get(f"{step.routine}:{step.path}", ())))
    print(f"  replay: {report.frames} frames served, {report.inputs} inputs matched; "
          f"mutated: {broken.divergence.message if broken.divergence else 'no divergence'}", flush=True)
    return live_rate, replay_rate, report.divergences, found
