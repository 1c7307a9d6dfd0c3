"""Resource-aware launching benchmark: 16 bots launched on a host made busy by a CPU hog, and on the quiet host, in
one run (issue 21 item 2; seed 003 "Resource Manager", "Degraded mode").

Run: ``.venv/bin/python benchmarks/resources.py [--bots 16] [--hog-s 40] [--wait-for-room 20]`` (its own Prefect
server on a free port unless ``PREFECT_API_URL`` is set, an isolated adb server, one in-process simulator serving
``--bots`` instances, a temporary project root and SQLite database; everything it starts is stopped at the end).

Each launch is the shipped ``demo`` group (routine ``demo/account_cycle``, one account per bot, stagger 0) on the
host ``local`` with the default thresholds (90 % CPU, 90 % memory; ``hosts/local.yaml`` written with
``wait_for_room_s`` from ``--wait-for-room``). The **quiet** launch runs first; the **busy** one starts with a CPU
hog (``--hog-procs`` spinning processes, 4 per core by default), stopped after ``--hog-s`` seconds, so degraded mode
is entered and must be left again while the bots still run. On a shared machine whose CPU is already over the
threshold before any launch, CPU says nothing: the benchmark says so, turns the CPU check off and gives the busy
launch a capture-latency threshold of ``--capture-factor`` × the quiet launch's median capture latency (the bots'
own measure of how busy the host is). Per launch, from the launch table and the launch's load file
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


def _launch(name: str, work: Path, serials: list[str], resources: dict[str, float], hog: tuple[float, int] | None,
            cpu_before: float) -> tuple[Run, float | None]:
    """One launch of the demo group on ``serials`` with the host's ``resources``; ``hog`` = (seconds, processes).
    Returns the run and the bots' median capture latency at its end (ms)."""
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
    overrides = LaunchOverrides(bots=bots, instances=list(range(bots)), stagger=0, max_accounts=bots,
                                backend="adb", backend_options={"serials": serials})
    spinning = Hog(*hog) if hog else None
    started = time.perf_counter()
    try:
        state = asyncio.run(launch_group("demo", overrides, return_state=True))
    finally:
        if spinning is not None:
            spinning.stop()
    wall = time.perf_counter() - started
    result = state.result(raise_on_failure=False)
    if not isinstance(result, LaunchResult):
        raise SystemExit(f"{name} launch failed: {state.message}")
    load = json.loads(load_file.read_text()) if load_file.exists() else {}
    rows = result.bots
    capture = load.get("capture_ms")
    return Run(name=name, bots=bots, wall_s=wall, cpu_before=cpu_before,
               completed=sum(r.state == "completed" for r in rows),
               failed=sum(r.state == "failed" for r in rows),
               shed=sum(bool(r.error and r.error.startswith("shed:")) for r in rows),
               stuck=sum(r.state not in ENDED for r in rows) + (bots - len(rows)),
               waited_s=float(load.get("waited_s", 0.0)), degraded_s=float(load.get("degraded_s", 0.0)),
               changes=int(load.get("changes", 0)), degraded_at_end=bool(load.get("degraded", False))), \
        float(capture) if isinstance(capture, int | float) else None


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
    parser.add_argument("--max-cpu", type=float, default=90.0, help="the host's max_cpu_percent (100: CPU ignored)")
    parser.add_argument("--hog-procs", type=int, default=4 * (psutil.cpu_count() or 1),
                        help="spinning processes of the hog (default: 4 per core)")
    parser.add_argument("--capture-factor", type=float, default=1.5,
                        help="with the CPU check off: the busy launch's max_capture_ms is this × the quiet median")
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
        resources = {"wait_for_room_s": args.wait_for_room, "max_cpu_percent": args.max_cpu,
                     "recover_below_percent": min(75.0, args.max_cpu)}
        cpu_before = psutil.cpu_percent(interval=2.0)
        if cpu_before > args.max_cpu:  # a shared machine: CPU says nothing here; the bots' capture latency does
            print(f"note: the host's CPU is at {cpu_before:.0f} % before any launch (> {args.max_cpu:.0f} %): the CPU "
                  "check is off (max_cpu_percent 100); the busy launch's threshold is the bots' capture latency, "
                  f"{args.capture_factor:g} x the quiet launch's median", flush=True)
            resources["max_cpu_percent"] = 100.0
        quiet, median = _launch("quiet", work, serials, resources, None, cpu_before)
        print(quiet.table() + f" capture_ms={median}", flush=True)
        if resources["max_cpu_percent"] >= 100 and median:
            resources["max_capture_ms"] = round(args.capture_factor * median, 1)
        for inst in sim.instances:
            inst.set_state("launcher")  # the same start as the quiet launch had
        busy, median = _launch("busy", work, serials, resources, (args.hog_s, args.hog_procs),
                               psutil.cpu_percent(interval=2.0))
        print(busy.table() + f" capture_ms={median} max_capture_ms={resources.get('max_capture_ms', 2000)}",
              flush=True)
    print(f"waited={busy.waited_s:.1f} shed={busy.shed} degraded_s={busy.degraded_s:.1f} "
          f"recovered={str(busy.recovered).lower()} stuck={busy.stuck + quiet.stuck} "
          f"failed_by_load={max(busy.failed - quiet.failed, 0)}")


if __name__ == "__main__":
    main()
