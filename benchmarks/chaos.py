"""Chaos benchmark: a group of supervised bots under random simulator faults of every kind, then stopped.

Run: ``.venv/bin/python benchmarks/chaos.py [--bots N] [--minutes M] [--fault-every S] [--seed K] [--rss-every S]
[--warmup S] [--tracemalloc]`` (defaults 16 bots, 10 minutes, one fault per instance every 10 s).

What it starts (all stopped at the end, also on Ctrl-C or failure): its own Prefect server on a free port with a
temporary home unless ``PREFECT_API_URL`` is set; an isolated adb server; one detached simulator process per
instance (``emufleet sim up``, like an emulator each, with its control socket, through which faults are injected
and cleared); a temporary project root (``EMUFLEET_HOME``: the shipped routines and templates, a pool ``chaos``
watching a folder of generated SharedPreferences account files, enough that the pool never runs dry, and a group
``chaos``) with its own SQLite accounts database.

The group plays ``demo/account_cycle`` with ``repeat: true`` on N instances (backend ``adb``, the serials of the
simulators), restart policy ``on_failure`` up to 1000 restarts, and a recovery budget of 1000 failures within
10 minutes so that bots keep recovering instead of giving up; health checks every 5 s and ``stuck_after`` 30 s so
that faults are noticed within a short run. After a 20-s warm-up a chaos thread injects one fault every
``fault-every / N`` seconds on the instance faulted least recently (ties at random) that is not under a timed
fault, so each instance gets one every ``fault-every`` seconds; the kinds are drawn from a shuffled
bag of every kind of :data:`emufleet.sim.faults.FAULT_KINDS` (so each kind is represented):
``refuse``/``silent`` are cleared after 2-6 s (the ``reconnect`` rung retries for 15 s), ``black_screen``/
``corrupt_screen`` after 1-4 s (the whole ladder takes about 6 s against them: a longer bad screen makes a bot give
up, see the note below), ``latency`` (150-900 ms per capture) after 5-15 s;
``drop``, ``reboot`` and ``crash`` act once; ``frozen``/``stuck_app`` end with the app (a restart), popup storms
when their popups are closed, ANR dialogs when answered. After M minutes the group is stopped
(:func:`flows.control.stop`) and the launch waited for.

What it prints:

* faults injected per kind; recoveries per rung (the sum of the bots' ``BotStatus.recoveries``, from the launch's
  rows); give-ups; every bot's final state, accounts, recoveries and recognition rounds per second (captured frames
  / wall time: ``BotStatus.captures``);
* ``undefined_states``: bots whose final state is not completed/stopped/failed, plus the group's flow runs (launch
  and bots) not in a final state on the Prefect server after the end (Completed, Failed, Cancelled, Crashed);
* ``leaked_leases``: accounts that still carry a lease token after the end (accounts database);
* ``leaked_locks``: instance locks (global concurrency limits ``instance:*``) with ``active_slots > 0``;
* ``double_driven``: instances driven by anything but exactly one lock holder at a time. From the simulator's own
  per-instance event log (device input and app commands: tap, swipe, key, text, am, file pushes, with their
  ``time.time()``) against the ``run-bot`` flow runs claiming ``instance:<serial>`` on the Prefect server (their
  ``start_time``→``end_time``): an instance counts when two claimants' run intervals overlap, or when it received
  input outside every claimant's interval (a leftover thread of an ended bot, say: input nobody's lock covered).
  This is stronger than comparing run intervals alone: it also sees input that reaches a device after its bot's
  run ended;
* RSS of this process (``VmRSS``, /proc/self/status) every ``--rss-every`` seconds (default 10) from the launch
  until the stop, as a table (:class:`memory.RssSampler`, ``benchmarks/memory.py``), and its growth per minute
  after the ``--warmup`` seconds (default 120: imports, caches filled once, client pools, each bot's first
  frames and recoveries), a least-squares slope; with ``--tracemalloc``, the 15 largest Python-heap differences
  between the warm-up's end and the stop, with their tracebacks (tracemalloc's own bookkeeping inflates RSS:
  read the table of a run without it). ``--fault-every 0`` runs the group without faults.

Note on give-ups: the failure budget is not the only way to give up. Faults of one kind that interrupt the
routine with no step completed past the interrupted one form one *incident*
(:class:`emufleet.bot.recovery.Incident`), which never takes a rung twice: a kind that keeps coming back (a black
screen after every rung, several ADB faults in a row) climbs the ladder to its end and the bot gives up. Those
give-ups are reported, not hidden. (Before this benchmark, faults of *any* kind shared the incident: four unrelated
faults within one long step, each recovered, left the fifth no rung; 7 of 8 bots gave up within three minutes.)

The last line is machine-read::

    faults=N recovered=N gave_up=N undefined_states=0 leaked_leases=0 leaked_locks=0 double_driven=0 rss_growth_mb=X \
rss_growth_mb_per_min=Y

(``rss_growth_mb``: from the launch to the stop; ``rss_growth_mb_per_min``: after the warm-up, ``nan`` when the run
is too short for two samples after it.)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from chaos_checks import driving_inputs, leaked_leases, server_checks  # noqa: E402 - benchmarks/
from chaos_faults import Chaos  # noqa: E402 - benchmarks/chaos_faults.py
from memory import FRAMES, RssSampler  # noqa: E402 - benchmarks/memory.py

from emufleet.sim.adbserver import find_free_base_port, free_port  # noqa: E402 - after the sys.path line

GROUP = "chaos"
END_TIMEOUT_S = 240.0  # how long the launch may take to end after the stop


def _project(root: Path, serials: list[str], accounts: int) -> None:
    """A private project root: shipped routines and templates, ``accounts`` account files, pool and group."""
    from emufleet.accounts.xmlfile import AccountCredentials, write_account_file

    for name in ("pools", "groups", "state"):
        (root / name).mkdir(parents=True, exist_ok=True)
    for name in ("routines", "templates"):
        (root / name).symlink_to(REPO / name, target_is_directory=True)
    for i in range(accounts):
        name = f"chaos_{i:05d}"
        write_account_file(root / "accounts" / f"{name}.xml",
                           AccountCredentials(device_account=f"{name}@emufleet.invalid", device_password=f"pw-{i}"))
    _yaml(root / "pools" / "chaos.yaml", {
        "version": 1, "pool_name": "chaos", "description": "generated accounts",
        "queries": [{"name": "open", "filters": [
            {"column": "device_account", "comparator": "LIKE", "value": "chaos_%"},
            {"column": "pool_status", "comparator": "IN", "value": ["available", "in_use"]}]}],
        "watched_paths": ["../accounts"],
        "config": {"sort_method": "modified_asc", "retry_failed": True, "max_failures": 3, "refresh_interval": 0,
                   "lease_ttl": 60}})
    _yaml(root / "groups" / f"{GROUP}.yaml", {
        "version": 1, "name": GROUP, "routine": "demo/account_cycle", "backend": "adb",
        "backend_options": {"serials": serials}, "instances": list(range(len(serials))), "bots": len(serials),
        "pools": ["chaos"],
        "launch": {"repeat": True, "stagger": 0, "emulator_timeout": "60s", "refresh_pools": True,
                   "on_conflict": "skip",
                   "restart_policy": {"mode": "on_failure", "max_restarts": 1000, "initial_delay": "1s",
                                      "max_delay": "5s"}},
        "recovery": {"budget": {"failures": 1000}, "stuck_after": "30s", "routine_timeout": "45s"},
        "health": {"interval": "5s"}})


def _yaml(path: Path, data: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _launch(bots: int, box: dict[str, Any]) -> None:
    """The launch, on its own thread (the main thread keeps time and stops it)."""
    from emufleet.groups import LaunchOverrides
    from flows.launch_group import launch_group

    try:
        box["state"] = asyncio.run(launch_group(GROUP, LaunchOverrides(bots=bots), return_state=True))
    except BaseException as exc:  # noqa: BLE001 - reported by the main thread
        box["error"] = exc


def _stop_group() -> int:
    from flows.control import stop

    return asyncio.run(stop(GROUP))


def _cleanup(steps: list[Callable[[], object]]) -> None:
    for step in reversed(steps):
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - every other step still runs
            print(f"cleanup: {exc}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bots", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fault-every", type=float, default=10.0, help="seconds between faults per instance (0: none)")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--rss-every", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=120.0,
                        help="seconds of the run that are warm-up, not in rss_growth_mb_per_min")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="diff Python-heap snapshots (end of warm-up → end) and print the top 15")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="emufleet-chaos-"))
    root = work / "home"
    database_url = f"sqlite:///{root / 'state' / 'emufleet.db'}"
    os.environ.update({"EMUFLEET_HOME": str(root), "EMUFLEET_STATE_DIR": str(root / "state"),
                       "EMUFLEET_DATABASE_URL": database_url, "ANDROID_ADB_SERVER_PORT": str(free_port())})
    cleanup: list[Callable[[], object]] = [lambda: shutil.rmtree(work, ignore_errors=True)]
    try:
        _run(args, root, database_url, cleanup)
    finally:
        _cleanup(cleanup)


def _run(args: argparse.Namespace, root: Path, database_url: str, cleanup: list[Callable[[], object]]) -> None:
    from flows.server import start_server, stop_server, use_server

    if not os.environ.get("PREFECT_API_URL"):
        server = start_server(root.parent / "prefect", free_port(), record=False)
        cleanup.append(lambda: stop_server(server))
        use_server(server)
    from adbutils._utils import adb_path
    from prefect.logging.handlers import APILogWorker

    from emufleet.sim import daemon

    cleanup.append(lambda: APILogWorker.drain_all(timeout=5))
    subprocess.run([adb_path(), "start-server"], check=True, capture_output=True)
    cleanup.append(lambda: subprocess.run([adb_path(), "kill-server"], capture_output=True))
    (root / "state").mkdir(parents=True, exist_ok=True)
    from emufleet import db

    db.upgrade(database_url)  # a launch never creates the database (`emufleet db upgrade` does)
    instances: dict[str, int] = {}
    for _ in range(args.bots):  # one process per instance, like emulators
        record = daemon.start_detached(1, "demo", find_free_base_port(1), timeout_s=60.0)
        cleanup.append(lambda record=record: daemon.stop(record))
        instances[record.serials[0]] = record.control_port
    serials = list(instances)
    accounts = max(200, int(args.bots * args.minutes * 25))
    _project(root, serials, accounts)
    chaos = Chaos(instances, args.fault_every, args.seed)
    box: dict[str, Any] = {}
    import flows.control
    import flows.launch_group  # noqa: F401 - imported before the RSS baseline: growth is the run's, not imports'

    if args.tracemalloc:
        tracemalloc.start(FRAMES)
    sampler = RssSampler(args.rss_every, args.warmup, trace=args.tracemalloc)
    sampler.start()
    launcher = threading.Thread(target=_launch, args=(args.bots, box), name="launch", daemon=True)
    print(f"chaos: {args.bots} bots, {args.minutes:g} min, {accounts} accounts, seed {args.seed}", flush=True)
    started = time.monotonic()
    launcher.start()
    chaos.start()
    try:
        launcher.join(args.minutes * 60)
    finally:
        sampler.stop()  # the run's memory, before the stop and the checks
        chaos.halt()
        if launcher.is_alive():
            print(f"stopping the group after {time.monotonic() - started:.0f} s: {_stop_group()} run(s)", flush=True)
        launcher.join(END_TIMEOUT_S)
        chaos.join(30)
    print(sampler.table(), flush=True)  # first: the checks below talk to the server and may fail
    if args.tracemalloc:
        print(sampler.top_diff(), flush=True)
    report = _report(box, chaos, instances, database_url, ended=not launcher.is_alive())
    print(_last_line(report, sampler))


def _report(box: dict[str, Any], chaos: Chaos, instances: dict[str, int], database_url: str, *,
            ended: bool) -> str:
    """Print the run's figures; returns the last line's counts (without the RSS fields)."""
    from flows.launch_group import LaunchResult

    state = box.get("state")
    result = state.result(raise_on_failure=False) if state is not None else None
    if not isinstance(result, LaunchResult):
        raise SystemExit(f"launch did not return its result: {box.get('error') or (state and state.message)}")
    print(f"launch ended {state.type.value}: {state.message or ''}" if ended else "launch did NOT end")
    print("faults injected: " + ", ".join(f"{k} {n}" for k, n in sorted(chaos.injected.items())))
    for error in chaos.errors[:10]:
        print(f"  injection error: {error}")
    rungs: Counter[str] = Counter()
    for row in result.bots:
        rungs.update(row.recoveries)
    print("recoveries per rung: " + (", ".join(f"{k} {n}" for k, n in sorted(rungs.items())) or "none"))
    gave_up = [r for r in result.bots if r.gave_up]
    print(f"give-ups: {len(gave_up)}")
    print(f"{'bot':>3} {'instance':<23} {'state':<10} {'done':>5} {'failed':>6} {'recov':>5} {'rounds/s':>8}  error")
    rounds = []
    for row in result.bots:
        rate = row.captures / row.wall_s if row.wall_s else 0.0
        rounds.append(rate)
        print(f"{row.bot:>3} {row.instance.key:<23} {row.state:<10} {row.accounts_completed:>5} "
              f"{row.accounts_failed:>6} {sum(row.recoveries.values()):>5} {rate:>8.2f}  {(row.error or '')[:70]}")
    if rounds:
        print(f"recognition rounds per second per bot: mean {sum(rounds) / len(rounds):.2f}, "
              f"min {min(rounds):.2f}, max {max(rounds):.2f}")
    undefined = [f"bot {r.bot}: {r.state}" for r in result.bots if r.state not in ("completed", "stopped", "failed")]
    if not ended:
        undefined.append("the launch did not end")
    unfinished, leaked_locks, doubles = asyncio.run(server_checks(GROUP, list(instances), driving_inputs(instances)))
    undefined += unfinished
    leases = leaked_leases(database_url)
    for what, items in (("undefined", undefined), ("leaked lease", leases), ("double-driven", doubles)):
        for item in items:
            print(f"  {what}: {item}")
    return (f"faults={sum(chaos.injected.values())} recovered={sum(rungs.values())} gave_up={len(gave_up)} "
            f"undefined_states={len(undefined)} leaked_leases={len(leases)} leaked_locks={leaked_locks} "
            f"double_driven={len(doubles)}")


def _last_line(counts: str, sampler: RssSampler) -> str:
    (_, start), (_, end) = sampler.samples[0], sampler.samples[-1]
    per_min = sampler.growth_per_min()
    print(f"RSS start {start:.1f} MB, end {end:.1f} MB, after the {sampler.warmup_s:.0f}-s warm-up "
          + (f"{per_min:+.2f} MB/min" if per_min is not None else "not measured (run too short)"))
    rate = f"{per_min:.2f}" if per_min is not None else "nan"
    return f"{counts} rss_growth_mb={end - start:.1f} rss_growth_mb_per_min={rate}"


if __name__ == "__main__":
    main()
