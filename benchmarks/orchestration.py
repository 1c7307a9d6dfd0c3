"""Orchestration benchmark: launch latency of 10 and 32 bots, and Prefect's overhead per routine step.

Run: ``.venv/bin/python benchmarks/orchestration.py [--postgres [URL]] [--bots N ...] [--hosts N] [--compare]``
(starts its own Prefect server on a free port with a temporary home unless ``PREFECT_API_URL`` is set, an isolated
adb server, one simulated instance per bot as separate processes (like emulators), a temporary SQLite accounts
database; everything it starts is stopped at the end). ``--postgres`` puts the Prefect server on PostgreSQL: the
(empty) database at URL, or without one a throwaway cluster (:mod:`emufleet.db.cluster`, the machine's
``initdb``/``pg_ctl``). ``--compare`` measures SQLite, then PostgreSQL, one ``<database>: …`` line each.
``--bots`` (default ``10 32``): one launch per count, one after the other on the same server.

``--hosts N`` (N ≥ 2; as root: Linux network namespaces): one group's bots spread evenly over N hosts, each a
network namespace with its own simulator (the same serials on every host, as on MuMu), adb server and Prefect
worker on its work queue; the Prefect server and the shared accounts database on a throwaway PostgreSQL cluster;
launched from the first host (its bots in-process, the others' through the ``run-bot`` deployment on their
workers). The group is ``bench-hosts`` (the demo routine and pool, ``repeat`` off: one account per bot). The same
measures, per host and for all, in one table per launch with a column per host, plus when remote runs were picked
up and running, and the bots' recoveries (``benchmarks/orchestration_hosts.py``: how each is read for a bot on
another host; docs/orchestration.md "Across hosts": measured figures).

What it measures, per launch, on the shipped ``demo`` group (routine ``demo/account_cycle``), stagger 0,
``max_accounts`` = bots:

* ``launch_s``: seconds from the ``launch-group`` flow run's start until the last bot *starts* its first step
  task (server timestamps: flow run ``start_time``, task run ``start_time``);
* ``step_overhead_ms``: mean of (time around a step task call, measured by the bot) − (time inside the engine,
  measured in the task), per step: what wrapping a top-level step in a Prefect task costs;
* ``prefect_share``: fraction of the bots' wall time spent in Prefect machinery rather than routine work:
  (subflow creation/finalisation = run's ``created``→``end_time`` minus the time inside the flow function) +
  (per-step task overhead), over the bots' ``created``→``end_time`` wall time.

The baseline is the engine time measured in the same run (``engine ms/step``). Each launch prints a table; the last
line is machine-read (``step_overhead_ms`` and ``prefect_share`` of the 10-bot launch, else of the first; with
``--hosts``, over the bots of every host)::

    launch_10_s=<float> launch_32_s=<float> step_overhead_ms=<float> prefect_share=<float>
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import demo_project  # noqa: E402
from launch_records import BotClocks, engine_ms, overhead_ms, prefect_share, read_launch, spread  # noqa: E402
from request_count import Requests  # noqa: E402

from emufleet.process import unwind_on_sigterm  # noqa: E402 - after the sys.path line
from emufleet.sim.adbserver import find_free_base_port, free_port  # noqa: E402

LAUNCHES = (10, 32)  # the targets are for 10; 32 is the multi-host sizing


@dataclass
class Launch:
    """One measured launch: its table's rows."""

    bots: int
    database: str
    launch_s: float
    created_first_s: float
    created_last_s: float
    first_step_first_s: float
    phases_end_s: float  # the last launch phase task (start-instance) before the bots
    requests: int
    busy: int  # HTTP 503 answers the clients saw (each cost a client back-off of 2 s or more)
    engine_ms: float
    overhead_ms: float
    share: float
    completed: int
    wall_s: float

    def _ratio(self) -> float:
        return self.overhead_ms / self.engine_ms if self.engine_ms else float("nan")

    def table(self) -> str:
        rows = [("Prefect server database", self.database), ("bots (one host)", str(self.bots)),
                ("launch phases done (pools, routine, instances)", f"+{self.phases_end_s:.2f} s"),
                ("bot runs created", f"+{self.created_first_s:.2f} … +{self.created_last_s:.2f} s"),
                ("first steps started", f"+{self.first_step_first_s:.2f} … +{self.launch_s:.2f} s"),
                ("**launch_s** (launch start → every bot's first step)", f"**{self.launch_s:.2f}**"),
                ("Prefect API requests during the launch (per bot)",
                 f"{self.requests} ({self.requests / self.bots:.1f})"),
                ("HTTP 503 answers seen by clients", str(self.busy)),
                ("engine ms/step (baseline)", f"{self.engine_ms:.1f}"),
                ("step_overhead_ms (ratio to baseline)", f"{self.overhead_ms:.1f} ({self._ratio():.4f})"),
                ("prefect_share", f"{self.share:.4f}"),
                ("accounts completed; launch flow wall time", f"{self.completed}; {self.wall_s:.1f} s")]
        return "\n".join(["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


def _launch(work: Path, bots: int, database: str, requests: Requests) -> Launch:
    """Start ``bots`` detached simulator instances, launch the demo group on them, measure, stop them."""
    from concurrent.futures import ThreadPoolExecutor

    from emufleet.device.backends import get_backend
    from emufleet.groups import LaunchOverrides
    from flows.launch_group import LaunchResult, launch_group

    # Emulators are other processes in production: detached simulator instances, started before the launch
    # (launch_s measures orchestration, not emulator boot).
    options = {"instances": bots, "scenario": "demo", "base_port": find_free_base_port(bots),
               "state_dir": str(work / f"sim{bots}")}
    backend = get_backend("simulator", **options)
    with ThreadPoolExecutor(min(bots, 16)) as pool:
        list(pool.map(lambda i: backend.start(i, 180.0), range(bots)))
    try:
        overrides = LaunchOverrides(bots=bots, instances=list(range(bots)), stagger=0, max_accounts=bots,
                                    backend="simulator", backend_options=options)
        mark = requests.mark
        started = time.perf_counter()
        state = asyncio.run(launch_group("demo", overrides, return_state=True))
        wall = time.perf_counter() - started
        calls, busy = requests.since(mark)
    finally:
        with ThreadPoolExecutor(min(bots, 16)) as pool:
            list(pool.map(backend.stop, range(bots)))
    result = state.result(raise_on_failure=False)
    if not isinstance(result, LaunchResult):
        raise SystemExit(f"launch failed: {state.message}")
    records = asyncio.run(read_launch(result.flow_run_id, bots))
    firsts = [b.first_step_s for b in records.bots.values() if b.first_step_s == b.first_step_s]
    created = spread(b.created_s for b in records.bots.values())
    rows = result.bots
    clocks = [BotClocks.of(r.steps_done, r.wall_s, r.step_s, r.engine_s, records.bots.get(f"demo-bot{r.bot}"))
              for r in rows]
    return Launch(bots=bots, database=database, launch_s=max(firsts) if len(firsts) == bots else float("nan"),
                  created_first_s=created[0], created_last_s=created[1],
                  first_step_first_s=min(firsts, default=float("nan")), phases_end_s=records.phases_end_s,
                  requests=calls, busy=busy, engine_ms=engine_ms(clocks), overhead_ms=overhead_ms(clocks),
                  share=prefect_share(clocks),
                  completed=sum(r.accounts_completed for r in rows), wall_s=wall)


def _project(root: Path, accounts: int) -> Path:
    """A project root with the shipped routines, templates, groups and ``demo`` pool, and ``accounts`` invented
    demo accounts (the shipped 12 are too few for 32 bots)."""
    return demo_project(root, accounts)


def _run(work: Path, database_url: str | None, launches: list[int]) -> list[Launch]:
    """One configuration: its own Prefect server (on ``database_url``, else SQLite) and adb server; one launch per
    bot count, in order, each with a fresh accounts database."""
    os.environ.update({"EMUFLEET_STATE_DIR": str(work / "state"),
                       "EMUFLEET_HOME": str(_project(work / "home", max(launches))),
                       "ANDROID_ADB_SERVER_PORT": str(free_port())})
    from emufleet import db
    from flows.server import start_server, stop_server, use_server

    server = None
    if not os.environ.get("PREFECT_API_URL") or database_url:
        server = start_server(work / "prefect", free_port(), record=False, database_url=database_url)
        use_server(server)
    from adbutils._utils import adb_path

    subprocess.run([adb_path(), "start-server"], check=True, capture_output=True)
    requests = Requests()
    database = server.database if server else os.environ["PREFECT_API_URL"]
    try:
        out = []
        for n, bots in enumerate(launches):
            os.environ["EMUFLEET_DATABASE_URL"] = f"sqlite:///{work / f'accounts{n}.db'}"
            db.upgrade()  # a launch never creates the database (`emufleet db upgrade` does)
            out.append(_launch(work, bots, database, requests))
            print(f"\n{out[-1].table()}\n", flush=True)
        return out
    finally:
        subprocess.run([adb_path(), "kill-server"], capture_output=True)
        if server is not None:
            from prefect.logging.handlers import APILogWorker

            try:
                APILogWorker.drain_all(timeout=5)
            finally:
                stop_server(server)


def _last_line(results: list[Launch]) -> str:
    by_bots = {r.bots: r for r in results}
    main = by_bots.get(10, results[0])
    fields = [f"launch_{r.bots}_s={r.launch_s:.3f}" for r in results]
    return " ".join([*fields, f"step_overhead_ms={main.overhead_ms:.3f}", f"prefect_share={main.share:.4f}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", nargs="?", const="throwaway", metavar="URL",
                        help="the Prefect server on PostgreSQL: this URL's (empty) database, or a throwaway cluster")
    parser.add_argument("--compare", action="store_true", help="SQLite, then PostgreSQL, in one run")
    parser.add_argument("--bots", type=int, nargs="+", default=list(LAUNCHES), metavar="N",
                        help="one launch per count (default: 10 32)")
    parser.add_argument("--hosts", type=int, default=1, metavar="N",
                        help="hosts to spread the bots over (N ≥ 2: network namespaces, root; PostgreSQL)")
    parser.add_argument("--from-host", action="store_true", help=argparse.SUPPRESS)  # --hosts' measuring process
    args = parser.parse_args()
    unwind_on_sigterm()  # a `timeout` must not leave the server, cluster and simulators running
    if args.hosts < 1:
        parser.error("--hosts: at least 1")
    if args.hosts > 1 and (args.compare or args.postgres):
        parser.error("--hosts N ≥ 2 always puts the Prefect server on a throwaway PostgreSQL cluster: "
                     "no --postgres, no --compare")
    if args.from_host:
        from orchestration_hosts import launch_from_host

        print(_last_line(launch_from_host(args.bots)))
        return
    if args.hosts > 1:
        from orchestration_hosts import run_hosts

        with contextlib.ExitStack() as stack:
            work = Path(tempfile.mkdtemp(prefix="emufleet-bench-"))
            stack.callback(shutil.rmtree, work, ignore_errors=True)
            run_hosts(work, _project(work / "home", sum(args.bots)), args.hosts, args.bots, Path(__file__))
        return
    if args.compare:  # each configuration in its own process: Prefect binds its settings and services at import
        last = {}
        bots = ["--bots", *map(str, args.bots)]
        for name, extra in (("sqlite", []), ("postgresql", ["--postgres", *([args.postgres] if args.postgres
                                                                              and args.postgres != "throwaway"
                                                                              else [])])):
            out = subprocess.run([sys.executable, __file__, *extra, *bots], stdout=subprocess.PIPE, text=True,
                                 check=True)
            sys.stdout.write(out.stdout)
            last[name] = out.stdout.strip().splitlines()[-1]
        for name, line in last.items():
            print(f"{name}: {line}")
        print(last["postgresql"])
        return
    with contextlib.ExitStack() as stack:
        work = Path(tempfile.mkdtemp(prefix="emufleet-bench-"))
        stack.callback(shutil.rmtree, work, ignore_errors=True)
        url = None if args.postgres in (None, "throwaway") else args.postgres
        if args.postgres == "throwaway":
            from emufleet.db.cluster import PostgresCluster

            url = stack.enter_context(PostgresCluster.start()).create_database("prefect")
        results = _run(work, url, args.bots)
    print(_last_line(results))


if __name__ == "__main__":
    main()
