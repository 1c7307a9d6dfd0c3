"""The routine studio's costs (issue 19): the live wall on running bots, frame latency, replay speed.

* **Wall cost.** 8 simulated instances (the demo game, in a process of their own as emulators are, through the real
  adb server) and 8 bots in this process (the engine's :class:`~emufleet.bot.BotSession`, wired as ``run_bot``
  wires them: the wall's feed and the flight recorder on their recorded device), each going from the home screen to
  the menu and back, forever (``ClickIfImageFound Menu``, ``Back``, 20 ms sleeps): the screen changes at every step,
  so the wall always has a new frame to show. The console runs in a process of its own (the real app under uvicorn,
  :func:`console.serve`), and a page process talks to it over HTTP as the Instances page (``static/wall.js``) does
  while it is visible: ``GET /api/wall`` a second after the previous answer, the screens that changed coming inline.
  The bots' click-loop detector is widened: the poll routine is a deliberate Menu/Back loop.

  Phases alternate closed (nobody looks), open (the page streams), closed, …: ``--pairs`` open phases, each between
  two closed ones, each measured over ``--phase-s`` seconds once it has settled (the bots see a look within 1 s; a
  look lasts 3 s after the page's last request, so a closed phase waits 4.5 s). Each open phase is compared with the
  mean of its two closed neighbours, so that a drift of the machine's load over the run cancels, in two ways:

  * **work** (``wall_cost_ratio``): the CPU seconds that the bots' process and the console's process spend per bot
    step, open / closed. Everything the wall does on the bots' host is in it (the feeds' encoding and writes, the
    console's requests), counted as if taken from the bots. Steps per second on a shared 2-core machine measure
    mostly how much of it the other programs take (adjacent 6 s phases differed by 2× there); CPU time per step does
    not depend on that;
  * **speed**: the bots' steps per second, closed / open (what a quiet machine would show directly).

  Each is printed as the median over the open phases with its interquartile range and a bootstrap 95 % interval of
  the median. The run is refused unless every closed window published no frame, every open window brought frames
  to the page, and every bot's screen reached it.
* **Frame latency**: from a bot's capture (the frame's time) to the page having its JPEG, median (ms): the feed
  publishes once a second and the page asks once a second, so this is mostly those periods.
* **Replay**: ``demo/reach_home`` recorded on another simulated instance, replayed offline
  (``emufleet.sessions.replay``): ``replay_steps_per_s`` (``live_steps_per_s`` of the recording beside it),
  ``replay_divergences`` (must be 0), and ``mutated_divergence_found`` (1: with the TapToStart template's region
  moved, the replay names that step).

Last line::

    wall_cost_ratio=… frame_latency_ms=… replay_steps_per_s=… replay_divergences=0 mutated_divergence_found=1

Run: ``.venv/bin/python benchmarks/studio.py [--bots 8] [--phase-s 4] [--pairs 20]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
from studio_replay import replay_figures  # noqa: E402 - benchmarks/studio_replay.py

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
SETTLE_S = {"open": 1.5, "closed": 4.5}  # until the bots publish (a look checked each second) / stop (3 s + 1 s)


class Quiet:
    def status(self, status: Any) -> None: ...
    def event(self, event: Any) -> None: ...
    def evidence(self, *args: Any) -> None: ...
    def progress(self, done: int, total: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Window:
    """One measured phase: when (Unix s), the bots' steps, CPU seconds by process, frames the feeds published."""

    kind: str
    start: float
    end: float
    steps: int
    cpu: dict[str, float]
    published: int

    @property
    def rate(self) -> float:
        return self.steps / (self.end - self.start)

    @property
    def work(self) -> float:
        """CPU seconds of the bots' process and the console per bot step."""
        return (self.cpu["bots"] + self.cpu["console"]) / max(self.steps, 1)


class Meter:
    """CPU seconds (user + system) of the processes that take part, and of this process's wall publisher thread
    (``publisher``, inside ``bots``), read at a window's ends."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}

    def read(self) -> dict[str, float]:
        cpu = {name: sum(proc.cpu_times()[:2]) for name, proc in self.procs.items()}
        ids = {t.native_id for t in threading.enumerate() if t.name == "emufleet-wall"}
        cpu["publisher"] = sum(t.user_time + t.system_time for t in psutil.Process().threads() if t.id in ids)
        return cpu


def simulate(count: int, base_port: int, conn: Connection) -> None:
    """The simulated instances in a process of their own: sends their serials, and their screens' states when told
    to stop."""
    from emufleet.sim import Simulator

    with Simulator(instances=count, scenario="demo", base_port=base_port) as sim:
        for inst in sim.instances:
            inst.set_state("home_ready")
        conn.send(sim.serials)
        conn.recv()
        conn.send(dict(Counter(inst.state for inst in sim.instances)))


def serve_console(url: str, port: int) -> None:
    """The console as ``emufleet console`` serves it (the real app under uvicorn), on ``url``'s database."""
    os.environ["EMUFLEET_DATABASE_URL"] = url
    from console import ConsoleConfig, serve

    serve(ConsoleConfig(port=port))


def page(base_url: str, looking: Any, quit_: Any, conn: Connection) -> None:
    """The Instances page over HTTP while ``looking`` is set (``static/wall.js``): ``GET /api/wall`` a second after
    the previous answer, with its ``frames`` token (the changed frames come inline), each frame decoded from base64
    as the browser does. Sends ``[(received, at, bytes, serial)]`` (Unix s) when told to quit."""
    import base64

    import httpx

    frames: list[tuple[float, float, int, str]] = []
    since = ""
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        while not quit_.is_set():
            if not looking.wait(0.1):
                continue
            reply = client.get("/api/wall", params={"since": since}, headers={"Accept": "application/json"})
            reply.raise_for_status()
            data = reply.json()
            since = data["frames"]
            received = time.time()
            frames += [(received, s["at"], len(base64.b64decode(s["jpeg"])), s["serial"])
                       for s in data["screens"] if "jpeg" in s]
            quit_.wait(1.0)
    conn.send(frames)


def run_bots(serials: list[str], registry: RoutineRegistry, engine: Any, folder: Path, phase_s: float, pairs: int,
             look: Callable[[bool], None], meter: Meter) -> list[Window]:
    """Run one bot per serial through closed, open, closed, … phases; return the measured windows in order."""
    from emufleet.bot import BotSession, BotSpec, EngineAssets
    from emufleet.groups import RestartPolicy
    from emufleet.groups.definition import RestartMode
    from emufleet.groups.record import RecordSettings
    from emufleet.groups.supervision import ClickLoopSettings, RecoverySettings
    from emufleet.hosts import LOCAL_HOST, InstanceId
    from emufleet.sessions.attach import BotRecording
    from emufleet.sessions.flight import FlightRecorder
    from emufleet.wall import LiveFeed, WallPublisher

    # The poll routine taps Menu and Back in turn, forever: with the default click-loop detector (6 pairs in 15
    # taps) every bot was "stuck" within seconds, went down the recovery ladder and gave up after three faults, so
    # the later phases measured dying bots (0 steps/s). The widest detector (500 pairs in 1000 taps) does not fire.
    no_click_loop = RecoverySettings(click_loop=ClickLoopSettings(window=1000, single=1000, pair=500))
    steps = [0] * len(serials)
    executor = ThreadPoolExecutor(4 * len(serials))
    feeds: list[LiveFeed] = []
    publisher = WallPublisher(engine)  # as run_bot shares one per launch

    def counter(i: int) -> Callable[[StepEvent], None]:
        def count(event: StepEvent) -> None:
            if event.kind == "finished":
                steps[i] += 1
        return count

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    async def main() -> list[Window]:
        sessions, tasks = [], []
        for i, serial in enumerate(serials):
            spec = BotSpec(group="bench", bot=i, instance=InstanceId(LOCAL_HOST, serial), routine="bench/poll",
                           restart_policy=RestartPolicy(mode=RestartMode.NEVER), recovery=no_click_loop)
            feed = LiveFeed(engine, InstanceId("local", serial), group="bench", bot=i, publisher=publisher)
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
        windows = []
        for n in range(2 * pairs + 1):
            kind = "open" if n % 2 else "closed"
            look(kind == "open")
            await asyncio.sleep(SETTLE_S[kind])
            steps0, cpu0, published0, start = sum(steps), meter.read(), sum(f.published for f in feeds), time.time()
            await asyncio.sleep(phase_s)
            end, cpu1 = time.time(), meter.read()
            window = Window(kind, start, end, sum(steps) - steps0, {k: cpu1[k] - cpu0[k] for k in cpu0},
                            sum(f.published for f in feeds) - published0)
            windows.append(window)
            print(f"  {kind:6} {window.rate:6.1f} steps/s, {1000 * window.work:5.2f} ms CPU/step "
                  f"(bots {window.cpu['bots']:.2f} s with publisher {window.cpu['publisher']:.3f} s, "
                  f"console {window.cpu['console']:.3f} s, adb {window.cpu['adb']:.2f} s, "
                  f"simulator {window.cpu['sim']:.2f} s, page {window.cpu['page']:.2f} s), "
                  f"{window.published} frames published", flush=True)
        look(False)
        for session in sessions:
            session.stop()
        await asyncio.gather(*tasks)
        return windows

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


def summary(values: list[float], *, seed: int = 19) -> tuple[float, float, float, float, float]:
    """Median, interquartile range (q1, q3) and a bootstrap 95 % interval of the median (2000 resamples)."""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(2000))
    return statistics.median(values), q1, q3, medians[49], medians[1949]


def paired(windows: list[Window]) -> tuple[list[float], list[float]]:
    """Per open window against the mean of its two closed neighbours: (work ratios open/closed, speed ratios
    closed/open)."""
    work, speed = [], []
    for i in range(1, len(windows) - 1, 2):
        before, opened, after = windows[i - 1], windows[i], windows[i + 1]
        work.append(opened.work / ((before.work + after.work) / 2))
        if opened.rate > 0:
            speed.append((before.rate + after.rate) / 2 / opened.rate)
    return work, speed


def check_streaming(windows: list[Window], frames: list[tuple[float, float, int, str]], bots: int) -> list[float]:
    """Refuse a run whose phases were not what they claim (a closed window that published, an open one that brought
    the page nothing, a bot whose screen never reached it); return the open windows' frame latencies (ms)."""
    latencies, serials = [], set()
    for w in windows:
        got = [(received, at, serial) for received, at, size, serial in frames if w.start <= received < w.end and size]
        if w.kind == "closed" and w.published:
            raise SystemExit(f"a closed window published {w.published} frames: the look had not ended")
        if w.kind == "open":
            if not w.published or not got:
                raise SystemExit(f"an open window published {w.published} frames and the page got {len(got)}")
            latencies += [1000.0 * (received - at) for received, at, _ in got]
            serials |= {serial for _, _, serial in got}
    if len(serials) < bots:
        raise SystemExit(f"the screens of only {len(serials)} of {bots} bots reached the page")
    return latencies


def adb_server_pid(port: int) -> int:
    """The pid of the adb server listening on ``port`` (it daemonizes: not a child of this process)."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "adb" and f"tcp:{port}" in (proc.info["cmdline"] or []):
            return proc.pid
    raise SystemExit(f"no adb server process on port {port}")


def wait_http(url: str, timeout_s: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout_s:g} s")
        time.sleep(0.2)


def main() -> None:
    import multiprocessing

    from emufleet.sim import Simulator
    from emufleet.sim.adbserver import find_free_base_port, free_port, isolated_adb_server

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=8)
    parser.add_argument("--phase-s", type=float, default=4.0, help="measured seconds of each phase")
    parser.add_argument("--pairs", type=int, default=20, help="open phases (each between two closed ones)")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    spawn = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="emufleet-studio-") as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'bench.db'}"
        db.upgrade(url)
        engine = db.engine(url)
        (root / "routines" / "bench").mkdir(parents=True)
        (root / "routines" / "bench" / "poll.yaml").write_text(textwrap.dedent(POLL))
        registry = RoutineRegistry.load(root / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
        procs: list[Any] = []
        with isolated_adb_server() as adb:
            try:
                sim_end, sim_conn = spawn.Pipe()
                sim = spawn.Process(target=simulate, args=(args.bots, find_free_base_port(args.bots), sim_end))
                port = free_port()
                server = spawn.Process(target=serve_console, args=(url, port))
                looking, quit_ = spawn.Event(), spawn.Event()
                page_end, page_conn = spawn.Pipe()
                viewer = spawn.Process(target=page, args=(f"http://127.0.0.1:{port}", looking, quit_, page_end))
                procs += [sim, server, viewer]
                for proc in procs:
                    proc.start()
                if not sim_conn.poll(120):
                    raise SystemExit("the simulator did not start")
                serials = sim_conn.recv()
                for serial in serials:
                    adb.connect(serial)
                deadline = time.monotonic() + 30
                while {d.serial for d in adb.list() if d.state == "device"} < set(serials):
                    if time.monotonic() > deadline:
                        raise SystemExit("the simulated instances did not come online")
                    time.sleep(0.1)
                wait_http(f"http://127.0.0.1:{port}/static/wall.js")  # served (not a look), imports paid
                meter = Meter({"bots": os.getpid(), "console": server.pid, "sim": sim.pid, "page": viewer.pid,
                               "adb": adb_server_pid(adb.port)})
                print(f"wall cost: {args.bots} bots, {args.pairs} open phases between closed ones, "
                      f"{args.phase_s:g} s measured each; load average {load:.2f}", flush=True)
                windows = run_bots(serials, registry, engine, root / "flight", args.phase_s, args.pairs,
                                   lambda on: looking.set() if on else looking.clear(), meter)
                quit_.set()
                frames = page_conn.recv() if page_conn.poll(30) else []
                sim_conn.send("stop")
                states = sim_conn.recv() if sim_conn.poll(30) else {}
            finally:
                quit_.set()
                for proc in procs:
                    if proc.is_alive() and proc is not sim:
                        proc.terminate()
                for proc in procs:
                    proc.join(30)
            print(f"  the bots' screens at the end: {states}", flush=True)
            latencies = check_streaming(windows, frames, args.bots)
            with Simulator(instances=1, scenario="demo", base_port=find_free_base_port(1)) as replay_sim:
                adb.connect(replay_sim.serials[0])
                live, replayed, divergences, found = replay_figures(replay_sim.serials[0], root)
        engine.dispose()
    work, speed = paired(windows)
    opened = [w for w in windows if w.kind == "open"]
    closed = [w for w in windows if w.kind == "closed"]
    for name, values in (("work (CPU s per step, open/closed)", work), ("speed (steps/s, closed/open)", speed)):
        med, q1, q3, low, high = summary(values)
        print(f"{name}: median {med:.3f}, IQR {q1:.3f}-{q3:.3f}, 95 % interval of the median {low:.3f}-{high:.3f} "
              f"({len(values)} pairs)")
    # What the wall spends itself, counted directly: the publisher thread, and the console above its idle level
    idle_console = statistics.median(c.cpu["console"] for c in closed)
    own = [(o.cpu["publisher"] + o.cpu["console"] - idle_console) / (o.cpu["bots"] - o.cpu["publisher"])
           for o in opened]
    print(f"the wall's own CPU while open (publisher thread, console above its closed level): "
          f"{1000 * statistics.median(o.cpu['publisher'] for o in opened) / args.phase_s:.1f} + "
          f"{1000 * (statistics.median(o.cpu['console'] for o in opened) - idle_console) / args.phase_s:.1f} ms/s, "
          f"{100 * statistics.median(own):.2f} % of the bots' own CPU (median)")
    extra = statistics.median(o.cpu["bots"] + o.cpu["console"] for o in opened) / args.phase_s \
        - statistics.median(c.cpu["bots"] + c.cpu["console"] for c in closed) / args.phase_s
    print(f"steps/s closed {statistics.median(w.rate for w in closed):.1f}, open "
          f"{statistics.median(w.rate for w in opened):.1f} (medians); bots+console CPU {extra * 1000:+.0f} ms/s "
          f"open vs closed; {sum(w.published for w in opened)} frames published, {len(latencies)} reached the page "
          f"in the open windows; live reach_home {live:.1f} steps/s; load average {load:.2f} before, "
          f"{os.getloadavg()[0]:.2f} after")
    latency = statistics.median(latencies) if latencies else float("nan")
    print(f"wall_cost_ratio={statistics.median(work):.3f} frame_latency_ms={latency:.0f} "
          f"replay_steps_per_s={replayed:.0f} replay_divergences={divergences} mutated_divergence_found={found}")


if __name__ == "__main__":
    main()
