"""The routine studio's costs (issue 19): the live wall on running bots, frame latency, replay speed.

* **Wall cost.** 8 simulated instances (the demo game, through the real adb server), 8 bots (the engine's
  :class:`~emufleet.bot.BotSession`, wired as ``run_bot`` wires them: the wall's feed and the flight recorder on
  their recorded device) each going from the home screen to the menu and back, forever (``ClickIfImageFound
  Menu``, ``Back``, 20 ms sleeps): the screen changes at every step, so the wall has a new frame to show.
  Phases alternate *closed* (nobody looks) and *open* (a page asks the wall once a second, as the Instances page
  does: a look, the screens, every changed JPEG), ``--phases`` of each, ``--phase-s`` seconds each, in one run,
  in ABBA order (closed-open, open-closed, …) so that a drift over the run weighs on both alike. The bots' click-loop
  detector is widened: the poll routine is a deliberate Menu/Back loop, which the default detector calls stuck.
  ``wall_cost_ratio`` = the median over the closed/open pairs of the bots' steps per second closed / open (> 1:
  the wall slowed them). The page runs in a
  process of its own, as the console does, and calls the same :mod:`emufleet.wall.store` functions as
  ``/api/wall`` (the HTTP layer aside).
* **Frame latency**: from a bot's capture (the frame's time) to the page having its JPEG, median (ms): the
  feed publishes every 0.5 s and the page asks every 1 s, so this is mostly those periods.
* **Replay**: ``demo/reach_home`` recorded on a 9th instance, replayed offline (``emufleet.sessions.replay``):
  ``replay_steps_per_s`` (and ``live_steps_per_s`` of the recording beside it), ``replay_divergences`` (must be 0),
  and ``mutated_divergence_found`` (1: with the TapToStart template's region moved, the replay names that step).

Last line::

    wall_cost_ratio=… frame_latency_ms=… replay_steps_per_s=… replay_divergences=0 mutated_divergence_found=1

Run: ``.venv/bin/python benchmarks/studio.py [--bots 8] [--phase-s 6] [--phases 4]``
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import yaml  # noqa: E402

from emufleet import db  # noqa: E402
from emufleet.routines import RoutineRegistry, StepEvent  # noqa: E402
from emufleet.vision import TemplateSet  # noqa: E402

POLL = """
version: 1
routine_name: home, menu, home, ... (the screen changes at every step; popups and the title dismissed)
steps:
  - action: Repeat
    iterations: 100000000
    actions:
      - {action: ClickIfImageFound, template: Menu}
      - {action: Sleep, duration: 20ms}
      - {action: ClickIfImageFound, template: Back}
      - {action: Sleep, duration: 20ms}
      - {action: ClickIfImageFound, template: Retry}   # the home screen's error popup, 8 s after it shows
      - {action: ClickIfImageFound, template: OK}      # the other popups
      - {action: ClickIfImageFound, template: TapToStart}
      - {action: ClickIfImageFound, template: AppIcon}
"""


class Quiet:
    def status(self, status: Any) -> None: ...
    def event(self, event: Any) -> None: ...
    def evidence(self, *args: Any) -> None: ...
    def progress(self, done: int, total: int) -> None: ...


def run_bots(serials: list[str], registry: RoutineRegistry, engine: Any, folder: Path, phase_s: float, phases: int,
             look: Callable[[bool], None]) -> tuple[list[float], list[float]]:
    """Run one bot per serial; alternate closed/open phases; return steps/s per phase (closed, open)."""
    from emufleet.bot import BotSession, BotSpec, EngineAssets
    from emufleet.groups import RestartPolicy
    from emufleet.groups.definition import RestartMode
    from emufleet.groups.record import RecordSettings
    from emufleet.groups.supervision import ClickLoopSettings, RecoverySettings
    from emufleet.hosts import LOCAL_HOST, InstanceId
    from emufleet.sessions.attach import BotRecording
    from emufleet.sessions.flight import FlightRecorder
    from emufleet.wall import LiveFeed

    # The poll routine taps Menu and Back in turn, forever: with the default click-loop detector (6 pairs in 15
    # taps) every bot was "stuck" within seconds, went down the recovery ladder and gave up after three faults, so
    # the later phases measured dying bots (0 steps/s) and the ratio measured the order of the phases, not the wall.
    # The widest detector (500 pairs in 1000 taps) does not fire within a run.
    NO_CLICK_LOOP = RecoverySettings(click_loop=ClickLoopSettings(window=1000, single=1000, pair=500))
    steps = [0] * len(serials)
    executor = ThreadPoolExecutor(4 * len(serials))
    sessions: list[Any] = []
    feeds: list[LiveFeed] = []

    def counter(i: int) -> Callable[[StepEvent], None]:
        def count(event: StepEvent) -> None:
            if event.kind == "finished":
                steps[i] += 1
        return count

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    async def main() -> tuple[list[float], list[float]]:
        tasks = []
        for i, serial in enumerate(serials):
            spec = BotSpec(group="bench", bot=i, instance=InstanceId(LOCAL_HOST, serial), routine="bench/poll",
                           restart_policy=RestartPolicy(mode=RestartMode.NEVER), recovery=NO_CLICK_LOOP)
            feed = LiveFeed(engine, "local", serial, group="bench", bot=i)
            ring = FlightRecorder(RecordSettings(), serial=serial, routine=spec.routine, folder=folder / f"bot-{i}")
            feeds.append(feed)

            def sink(entry: Any, feed: LiveFeed = feed, ring: FlightRecorder = ring) -> None:
                feed.add(entry)
                ring.add(entry)

            recording = BotRecording(sink)
            feed.start()
            session = BotSession(spec, EngineAssets(registry.templates, registry), call=call, observer=Quiet(),
                                 connect=recording.connect(serial, 30.0),
                                 on_step=recording.on_step(_both(feed.on_step, counter(i))))
            sessions.append(session)
            tasks.append(asyncio.get_running_loop().create_task(session.run()))
        await asyncio.sleep(4.0)  # warm-up: connected, the routine polling
        closed, opened = [], []
        for n in range(phases):
            # closed-open, then open-closed (ABBA): a drift over the run (load, the simulated games' popups)
            # weighs on both kinds alike instead of always favouring the kind measured first
            for kind in ("closed", "open") if n % 2 == 0 else ("open", "closed"):
                look(kind == "open")
                before, started = sum(steps), time.perf_counter()
                await asyncio.sleep(phase_s)
                rate = (sum(steps) - before) / (time.perf_counter() - started)
                look(False)
                if kind == "open":
                    await asyncio.sleep(3.5)  # the look expires (3 s): the next closed phase is really closed
                (closed if kind == "closed" else opened).append(rate)
                print(f"  {kind:6} {rate:7.1f} steps/s (all bots)", flush=True)
        for session in sessions:
            session.stop()
        await asyncio.gather(*tasks)
        return closed, opened

    try:
        return asyncio.run(main())
    finally:
        for feed in feeds:
            feed.close()
        executor.shutdown(wait=True)


def _both(*hooks: Callable[[StepEvent], None]) -> Callable[[StepEvent], None]:
    def hook(event: StepEvent) -> None:
        for each in hooks:
            each(event)
    return hook


def page(url: str, looking: Any, quit_: Any, ready: Any, latencies: Any) -> None:
    """The Instances page, in a process of its own as the console is: while ``looking`` is set, once a second a look,
    the screens, each changed JPEG (its capture-to-page latency, ms, appended to ``latencies``)."""
    from emufleet import db
    from emufleet.wall import store

    engine = db.engine(url)
    seen: dict[str, float] = {}
    store.screens(engine)  # imports and connection paid before the bots start
    ready.set()
    while not quit_.is_set():
        if not looking.wait(0.2):
            continue
        store.want(engine)
        for screen in store.screens(engine):
            if seen.get(screen.serial) != screen.at:
                seen[screen.serial] = screen.at
                if store.jpeg(engine, screen.host, screen.serial) is not None:
                    latencies.append((time.time() - screen.at) * 1000.0)
        quit_.wait(1.0)
    engine.dispose()


def replay_figures(serial: str, registry: RoutineRegistry, folder: Path) -> tuple[float, float, int, int]:
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


def main() -> None:
    import multiprocessing

    from emufleet.sim import Simulator
    from emufleet.sim.adbserver import find_free_base_port, isolated_adb_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--phase-s", type=float, default=6.0)
    parser.add_argument("--phases", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emufleet-studio-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        db.upgrade(url)
        engine = db.engine(url)
        (root / "routines" / "bench").mkdir(parents=True)
        (root / "routines" / "bench" / "poll.yaml").write_text(textwrap.dedent(POLL))
        registry = RoutineRegistry.load(root / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
        with isolated_adb_server() as adb, Simulator(instances=args.bots + 1, scenario="demo",
                                                     base_port=find_free_base_port(args.bots + 1)) as sim:
            for inst in sim.instances:
                adb.connect(inst.serial)
            for inst in sim.instances[:-1]:
                inst.set_state("home_ready")
            deadline = time.monotonic() + 30
            while {d.serial for d in adb.list() if d.state == "device"} < {i.serial for i in sim.instances}:
                if time.monotonic() > deadline:
                    raise SystemExit("the simulated instances did not come online")
                time.sleep(0.1)
            spawn = multiprocessing.get_context("spawn")
            manager = spawn.Manager()
            latencies, looking, quit_, ready = manager.list(), spawn.Event(), spawn.Event(), spawn.Event()
            viewer = spawn.Process(target=page, args=(url, looking, quit_, ready, latencies), daemon=True)
            viewer.start()
            if not ready.wait(120):  # started (imports paid) before the bots: an open phase only looks
                raise SystemExit("the page process did not start")
            print(f"wall cost: {args.bots} bots, {args.phases} x (closed, open) phases of {args.phase_s:g} s",
                  flush=True)
            closed, opened = run_bots([i.serial for i in sim.instances[:-1]], registry, engine, root / "flight",
                                      args.phase_s, args.phases,
                                      lambda on: looking.set() if on else looking.clear())
            quit_.set()
            viewer.join(10)
            states = Counter(i.state for i in sim.instances[:-1])
            print(f"  the bots' screens at the end: {dict(states)}", flush=True)
            latencies = list(latencies)
            live, replayed, divergences, found = replay_figures(sim.instances[-1].serial, registry, root)
        engine.dispose()
    # Each closed phase against the open phase next to it (phases n and n+1 share the machine's load far more than
    # phases a minute apart), then the median of those ratios: outside load that swings 5x over a run cancels in a
    # pair, and one pair hit by a burst does not move the median.
    ratio = statistics.median(c / o for c, o in zip(closed, opened, strict=True) if o > 0)
    latency = statistics.median(latencies) if latencies else float("nan")
    print(f"steps/s closed {statistics.median(closed):.1f}, open {statistics.median(opened):.1f} (medians); "
          f"{len(latencies)} frames reached the page; live reach_home {live:.1f} steps/s")
    print(f"wall_cost_ratio={ratio:.3f} frame_latency_ms={latency:.0f} replay_steps_per_s={replayed:.0f} "
          f"replay_divergences={divergences} mutated_divergence_found={found}")


if __name__ == "__main__":
    main()
