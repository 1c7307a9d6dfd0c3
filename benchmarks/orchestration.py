"""Orchestration benchmark: launch latency of 10 bots, and Prefect's overhead per routine step.

Run: ``.venv/bin/python benchmarks/orchestration.py [--postgres [URL]] [--compare]`` (starts its own Prefect server on a
free port with a temporary home unless ``PREFECT_API_URL`` is set, an isolated adb server, 10 simulated instances as
separate processes (like emulators), a temporary SQLite accounts database; everything it starts is stopped at the end).
``--postgres`` puts the Prefect server on PostgreSQL: the (empty) database at URL, or without one a throwaway cluster
(:mod:`emufleet.db.cluster`, the machine's ``initdb``/``pg_ctl``). ``--compare`` measures SQLite, then PostgreSQL,
in one run, one ``<database>: launch_10_s=…`` line each.

What it measures, on the shipped ``demo`` group (routine ``demo/account_cycle``), 10 bots, stagger 0,
``max_accounts`` 10:

* ``launch_10_s``: seconds from the ``launch-group`` flow run's start until the last of the 10 bots *starts*
  its first step task (server timestamps: flow run ``start_time``, task run ``start_time``).
* ``step_overhead_ms``: mean of (time around a step task call, measured by the bot) − (time inside the engine,
  measured in the task), per step: what wrapping a top-level step in a Prefect task costs.
* ``prefect_share``: fraction of the bots' wall time spent in Prefect machinery rather than routine work:
  (subflow creation/finalisation = run's ``created``→``end_time`` minus the time inside the flow function) +
  (per-step task overhead), over the bots' ``created``→``end_time`` wall time.

The baseline is the engine time measured in the same run (``engine ms/step``). The last line is machine-read::

    launch_10_s=<float> step_overhead_ms=<float> prefect_share=<float>
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
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from emufleet.sim.adbserver import find_free_base_port, free_port  # noqa: E402 - after the sys.path line

BOTS = int(os.environ.get("EMUFLEET_BENCH_BOTS", "10"))  # the targets are for 10


async def _measure(group_result: object, launch_run_id: object) -> tuple[float, float, float, float]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
    )

    async with get_client() as client:
        launch = await client.read_flow_run(launch_run_id)
        bots = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[launch_run_id])),
            limit=100)
        phases = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[launch_run_id])),
                                             limit=200)
        for phase in sorted((t for t in phases if t.end_time), key=lambda t: t.end_time):
            print(f"launch phase {phase.name}: ends +{(phase.end_time - launch.start_time).total_seconds():.2f} s")
        first_steps = []
        for bot in bots:
            tasks = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[bot.id])),
                task_run_filter=TaskRunFilter(), limit=200)
            starts = [t.start_time for t in tasks if " step 0:" in t.name and t.start_time is not None]
            if starts:
                first_steps.append(min(starts))
                print(f"{bot.name}: flow run created +{(bot.created - launch.start_time).total_seconds():.2f} s, "
                      f"first step +{(min(starts) - launch.start_time).total_seconds():.2f} s")
        outer = {b.name: (b.end_time - b.created).total_seconds() for b in bots if b.end_time and b.created}
    launch_s = (max(first_steps) - launch.start_time).total_seconds() if len(first_steps) == BOTS else float("nan")
    rows = group_result.bots  # type: ignore[attr-defined]
    steps = sum(r.steps for r in rows) or 1
    task_overhead = sum(r.step_s - r.engine_s for r in rows)
    outer_wall = sum(outer.get(f"demo-bot{r.bot}", r.wall_s) for r in rows)
    flow_overhead = sum(max(0.0, outer.get(f"demo-bot{r.bot}", r.wall_s) - r.wall_s) for r in rows)
    engine_ms = sum(r.engine_s for r in rows) / steps * 1000
    return launch_s, task_overhead / steps * 1000, (flow_overhead + task_overhead) / outer_wall, engine_ms


def _run(work: Path, database_url: str | None) -> tuple[float, float, float]:
    """One configuration: its own Prefect server (on ``database_url``, else SQLite), adb server, simulators."""
    os.environ.update({"EMUFLEET_STATE_DIR": str(work / "state"),
                       "EMUFLEET_DATABASE_URL": f"sqlite:///{work / 'bench.db'}",
                       "ANDROID_ADB_SERVER_PORT": str(free_port())})
    from flows.server import start_server, stop_server, use_server

    server = None
    if not os.environ.get("PREFECT_API_URL") or database_url:
        server = start_server(work / "prefect", free_port(), record=False, database_url=database_url)
        use_server(server)
    from adbutils._utils import adb_path

    subprocess.run([adb_path(), "start-server"], check=True, capture_output=True)
    try:
        from concurrent.futures import ThreadPoolExecutor

        from emufleet.device.backends import get_backend
        from emufleet.groups import LaunchOverrides
        from flows.launch_group import LaunchResult, launch_group

        # Emulators are other processes in production: detached simulator instances, started before the launch
        # (launch_10_s measures orchestration, not emulator boot).
        options = {"instances": BOTS, "scenario": "demo", "base_port": find_free_base_port(BOTS),
                   "state_dir": str(work / "sim")}
        backend = get_backend("simulator", **options)
        with ThreadPoolExecutor(BOTS) as pool:
            list(pool.map(lambda i: backend.start(i, 120.0), range(BOTS)))
        try:
            overrides = LaunchOverrides(bots=BOTS, instances=list(range(BOTS)), stagger=0, max_accounts=BOTS,
                                        backend="simulator", backend_options=options)
            started = time.perf_counter()
            state = asyncio.run(launch_group("demo", overrides, return_state=True))
            total = time.perf_counter() - started
        finally:
            for index in range(BOTS):
                backend.stop(index)
        result = state.result(raise_on_failure=False)
        if not isinstance(result, LaunchResult):
            raise SystemExit(f"launch failed: {state.message}")
        launch_s, overhead_ms, share, engine_ms = asyncio.run(_measure(result, result.flow_run_id))
        done = sum(r.accounts_completed for r in result.bots)
        database = server.database if server else os.environ["PREFECT_API_URL"]
        print(f"Prefect server database {database}; bots {result.launched}, accounts completed {done}, "
              f"launch flow {total:.1f} s, state {state.type.value}")
        print(f"engine ms/step {engine_ms:.1f} (baseline), Prefect ms/step {overhead_ms:.1f}, "
              f"ratio {overhead_ms / engine_ms if engine_ms else float('nan'):.4f}")
        return launch_s, overhead_ms, share
    finally:
        subprocess.run([adb_path(), "kill-server"], capture_output=True)
        if server is not None:
            from prefect.logging.handlers import APILogWorker

            try:
                APILogWorker.drain_all(timeout=5)
            finally:
                stop_server(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postgres", nargs="?", const="throwaway", metavar="URL",
                        help="the Prefect server on PostgreSQL: this URL's (empty) database, or a throwaway cluster")
    parser.add_argument("--compare", action="store_true", help="SQLite, then PostgreSQL, in one run")
    args = parser.parse_args()
    if args.compare:  # each configuration in its own process: Prefect binds its settings and services at import
        last = {}
        for name, extra in (("sqlite", []), ("postgresql", ["--postgres", *([args.postgres] if args.postgres
                                                                              and args.postgres != "throwaway"
                                                                              else [])])):
            out = subprocess.run([sys.executable, __file__, *extra], stdout=subprocess.PIPE, text=True, check=True)
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
        launch_s, overhead_ms, share = _run(work, url)
    print(f"launch_10_s={launch_s:.3f} step_overhead_ms={overhead_ms:.3f} prefect_share={share:.4f}")


if __name__ == "__main__":
    main()
