"""Resource-aware launching benchmark: 16 bots launched on a host made busy by a CPU hog, and on the quiet host, in
one run (issue 21 item 2; seed 003 "Resource Manager", "Degraded mode").

Run: ``.venv/bin/python benchmarks/resources.py [--bots 16] [--hog-s 40] [--wait-for-room 20] [--stagger 1]`` (its
own Prefect server on a free port unless ``PREFECT_API_URL`` is set, an isolated adb server, one in-process simulator
serving ``--bots`` instances, a temporary project root and SQLite database; everything it starts is stopped at the
end).

Each launch is the shipped ``demo`` group (routine ``demo/account_cycle``, one account per bot, bots started
``--stagger`` seconds apart) on the host ``local`` (``hosts/local.yaml`` written with ``wait_for_room_s`` from
``--wait-for-room``). The **quiet** launch runs first and is the baseline: no threshold of its own; a thread reads the
launch's load file every 0.5 s while its bots run, for the host's median CPU and the bots' median capture latency.
The **busy** launch starts with a CPU hog (``--hog-procs`` spinning processes, 4 per core by default), stopped after
``--hog-s`` seconds, so degraded mode is entered and must be left again while the bots still run. Its thresholds are
relative to that baseline: a capture latency over ``--capture-factor`` × the quiet median (the bots' own measure of
how busy the host is), and CPU over ``--max-cpu`` only when the quiet launch kept the host under it: 16 bots
saturate a 2-core host by themselves (and a shared machine may be at 100 % before any launch), where a CPU threshold
would shed the quiet launch's bots as well and cannot tell the hog from the fleet.

Why the stagger: with stagger 0 a launch admits every bot before any of them runs (its start barrier), so no bot has
captured yet when the gate decides and the capture latency cannot shed anything; one second apart, each bot's gate
sees the latency of the bots started before it.

Per launch, from the launch table and the launch's load file
(``var/system/load-local.json``):

* ``waited``: seconds the launch's bots waited for room, summed; ``shed``: bots shed for lack of room;
* ``degraded_s``: seconds the host spent in degraded mode (captures spaced); ``recovered``: degraded mode was left
  (or never entered) by the end;
* ``stuck``: bots that did not end (neither completed, failed nor stopped); ``failed_by_load``: bots that failed
  on the busy host, less those that failed on the quiet one (a bot slowed or shed is not failed).

The machine-read last line is the busy launch's::

    waited=<s> shed=<n> degraded_s=<s> recovered=<bool> stuck=<n> failed_by_load=<n>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import yaml  # noqa: E402
from harness import demo_project  # noqa: E402

from emufleet.process import stop_tree, unwind_on_sigterm  # noqa: E402 - after the sys.path line
from emufleet.sim.adbserver import adb_server_env, find_free_base_port, free_port  # noqa: E402

ENDED = {"completed", "failed", "stopped"}


@dataclass
class Run:
    """One measured launch."""

    name: str
    bots: int
    wall_s: float
    cpu_before: float
    completed: int
    failed: int
    shed: int
    stuck: int
    waited_s: float
    degraded_s: float
    changes: int
    degraded_at_end: bool

    @property
    def recovered(self) -> bool:
        return not self.degraded_at_end

    def table(self) -> str:
        return (f"{self.name:<5} bots={self.bots} wall={self.wall_s:.1f}s cpu_before={self.cpu_before:.0f}% "
                f"completed={self.completed} failed={self.failed} shed={self.shed} stuck={self.stuck} "
                f"waited={self.waited_s:.1f}s degraded_s={self.degraded_s:.1f} changes={self.changes} "
                f"recovered={self.recovered}")


def _project(root: Path, accounts: int) -> Path:
    """A project root: the shipped routines, templates and groups, the ``demo`` pool over ``accounts`` invented
    accounts, and a ``hosts/`` folder of its own (each launch writes ``local.yaml``)."""
    demo_project(root, accounts, shared=("routines", "templates", "groups"))
    (root / "hosts").mkdir()
    return root


class Hog:
    """``procs`` spinning processes, stopped after ``seconds`` (or at :meth:`stop`)."""

    def __init__(self, seconds: float, procs: int) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(procs)]
        self.timer = threading.Timer(seconds, self.stop)
        self.timer.start()

    def stop(self) -> None:
        self.timer.cancel()
        for proc in self.procs:
            stop_tree(proc.pid, timeout_s=1.0)
            proc.poll()


class LoadWatch:
    """Reads the launch's load file every 0.5 s on a thread while the launch runs: the host's CPU and the bots' capture
    latency as the launch's monitor saw them (the file is rewritten every second; its last state, written after the
    bots ended, has no capture latency left in its 10 s window)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cpu: list[float] = []
        self.capture_ms: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-load-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                load = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # not written yet, or being replaced
            if isinstance(load.get("cpu_percent"), int | float):
                self.cpu.append(float(load["cpu_percent"]))
            if isinstance(load.get("capture_ms"), int | float):
                self.capture_ms.append(float(load["capture_ms"]))

    def stop(self) -> tuple[float | None, float | None]:
        """Stop reading; the medians of CPU (%) and capture latency (ms) seen, ``None`` for none."""
        self._stop.set()
        self._thread.join()
        return (statistics.median(self.cpu) if self.cpu else None,
                statistics.median(self.capture_ms) if self.capture_ms else None)


def _launch(name: str, work: Path, serials: list[str], resources: dict[str, float], hog: tuple[float, int] | None,
            cpu_before: float, stagger: float) -> tuple[Run, float | None, float | None]:
    """One launch of the demo group on ``serials`` with the host's ``resources``; ``hog`` = (seconds, processes).
    Returns the run and, while its bots ran, the host's median CPU (%) and the bots' median capture latency (ms)."""
    from emufleet import db
    from emufleet.groups import LaunchOverrides
    from flows.launch_group import LaunchResult, launch_group

    os.environ["EMUFLEET_DATABASE_URL"] = url = f"sqlite:///{work / f'accounts-{name}.db'}"
    db.upgrade(url)  # a fresh accounts database per launch (only an upgrade creates one)
    load_file = work / "state" / "system" / "load-local.json"
    load_file.unlink(missing_ok=True)
    home = Path(os.environ["EMUFLEET_HOME"])
    (home / "hosts" / "local.yaml").write_text(yaml.safe_dump(
        {"version": 1, "name": "local", "resources": resources}), encoding="utf-8")
    bots = len(serials)
    overrides = LaunchOverrides(bots=bots, instances=list(range(bots)), stagger=stagger, max_accounts=bots,
                                backend="adb", backend_options={"serials": serials})
    spinning = Hog(*hog) if hog else None
    watch = LoadWatch(load_file)
    started = time.perf_counter()
    try:
        state = asyncio.run(launch_group("demo", overrides, return_state=True))
    finally:
        if spinning is not None:
            spinning.stop()
        cpu, capture = watch.stop()
    wall = time.perf_counter() - started
    result = state.result(raise_on_failure=False)
    if not isinstance(result, LaunchResult):
        raise SystemExit(f"{name} launch failed: {state.message}")
    load = json.loads(load_file.read_text()) if load_file.exists() else {}
    rows = result.bots
    return Run(name=name, bots=bots, wall_s=wall, cpu_before=cpu_before,
               completed=sum(r.state == "completed" for r in rows),
               failed=sum(r.state == "failed" for r in rows),
               shed=sum(bool(r.error and r.error.startswith("shed:")) for r in rows),
               stuck=sum(r.state not in ENDED for r in rows) + (bots - len(rows)),
               waited_s=float(load.get("waited_s", 0.0)), degraded_s=float(load.get("degraded_s", 0.0)),
               changes=int(load.get("changes", 0)), degraded_at_end=bool(load.get("degraded", False))), cpu, capture


def _drain() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=5)
    EventsWorker.drain_all(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bots", type=int, default=16)
    parser.add_argument("--hog-s", type=float, default=40.0, help="seconds the CPU hog spins in the busy launch")
    parser.add_argument("--wait-for-room", type=float, default=20.0, help="the host's wait_for_room_s, seconds")
    parser.add_argument("--max-cpu", type=float, default=90.0,
                        help="the busy launch's max_cpu_percent when the quiet launch kept the host under it")
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds between the starts of a launch's bots")
    parser.add_argument("--hog-procs", type=int, default=4 * (psutil.cpu_count() or 1),
                        help="spinning processes of the hog (default: 4 per core)")
    parser.add_argument("--capture-factor", type=float, default=1.5,
                        help="the busy launch's max_capture_ms is this × the quiet launch's median")
    args = parser.parse_args()
    unwind_on_sigterm()  # a `timeout` must not leave the server, simulator and hog running
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="emufleet-bench-resources-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        os.environ.update({"EMUFLEET_STATE_DIR": str(work / "state"),
                           "EMUFLEET_HOME": str(_project(work / "home", args.bots * 2)),
                           "ANDROID_ADB_SERVER_PORT": str(free_port())})
        os.environ.pop("EMUFLEET_HOST", None)
        from flows.server import start_server, stop_server, use_server

        if not os.environ.get("PREFECT_API_URL"):
            server = start_server(work / "prefect", free_port(), record=False, timeout_s=300)
            stack.callback(stop_server, server)
            use_server(server)
            stack.callback(_drain)  # before the server stops: Prefect's log and event threads would wait for it
        from adbutils._utils import adb_path

        from emufleet.sim import Simulator

        subprocess.run([adb_path(), "start-server"], check=True, capture_output=True, env=adb_server_env())
        stack.callback(subprocess.run, [adb_path(), "kill-server"], capture_output=True)
        sim = stack.enter_context(Simulator(instances=args.bots, scenario="demo",
                                            base_port=find_free_base_port(args.bots)))
        serials = [inst.serial for inst in sim.instances]
        # the quiet launch is the baseline: no threshold of its own (100 % and the largest latency turn them off)
        resources = {"wait_for_room_s": args.wait_for_room, "max_cpu_percent": 100.0, "recover_below_percent": 75.0,
                     "max_capture_ms": 600_000.0}
        quiet, quiet_cpu, median = _launch("quiet", work, serials, resources, None, psutil.cpu_percent(interval=2.0),
                                           args.stagger)
        print(quiet.table() + f" cpu_median={quiet_cpu} capture_ms={median}", flush=True)
        if median is None:
            raise SystemExit("the quiet launch's bots reported no capture latency: no baseline (a machine too "
                             "loaded for them to reach their first capture?)")
        resources["max_capture_ms"] = round(args.capture_factor * median, 1)
        if quiet_cpu is not None and quiet_cpu < args.max_cpu:
            resources["max_cpu_percent"] = args.max_cpu
            resources["recover_below_percent"] = min(75.0, args.max_cpu)
        else:
            print(f"note: the quiet launch held the host's CPU at {quiet_cpu} % (>= {args.max_cpu:.0f} %): a CPU "
                  "threshold cannot tell the hog from the fleet; the busy launch is gated on capture latency, "
                  f"{args.capture_factor:g} x the quiet median = {resources['max_capture_ms']} ms", flush=True)
        for inst in sim.instances:
            inst.set_state("launcher")  # the same start as the quiet launch had
        busy, busy_cpu, busy_median = _launch("busy", work, serials, resources, (args.hog_s, args.hog_procs),
                                              psutil.cpu_percent(interval=2.0), args.stagger)
        print(busy.table() + f" cpu_median={busy_cpu} capture_ms={busy_median} "
              f"max_capture_ms={resources['max_capture_ms']} max_cpu={resources['max_cpu_percent']:.0f}", flush=True)
    print(f"waited={busy.waited_s:.1f} shed={busy.shed} degraded_s={busy.degraded_s:.1f} "
          f"recovered={str(busy.recovered).lower()} stuck={busy.stuck + quiet.stuck} "
          f"failed_by_load={max(busy.failed - quiet.failed, 0)}")


if __name__ == "__main__":
    main()
