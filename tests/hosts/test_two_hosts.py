"""Two hosts as network namespaces, one Prefect server and one accounts database (both PostgreSQL) in the root
namespace: each host serves the *same* serial ``127.0.0.1:16384`` from its own simulator.

* each host's own launch drives its own device, under its own lock, from the shared pool, without leasing an
  account twice;
* one group spanning both hosts, launched on one: the other host's bot runs on that host's Prefect worker
  (``run-bot`` deployment, a work queue per host), a subflow of the launch like the in-process one;
* operator commands sent to one launch from both hosts at once, and taken by watchers on both hosts racing for
  the same bots: none lost, none numbered or taken twice (the control plane on PostgreSQL across hosts).

The hosts, the shared services, devices and workers come from :mod:`tests.hosts.multihost`.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from emufleet import db
from emufleet.control import CommandStore
from emufleet.hosts import InstanceId
from tests.fleet import FleetHome
from tests.hosts.multihost import (
    BIN,
    REPO,
    SERIAL,
    Shared,
    fill_pool,
    host_env,
    injections,
    on_server,
    running_hosts,
    sim_events,
    write_hosts,
)
from tests.hosts.netns import NetnsHost

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def test_two_hosts_same_serial_own_devices_own_locks_one_pool(hosts: list[NetnsHost], shared: Shared,
                                                              fleet_home: FleetHome, tmp_path: Path) -> None:
    accounts_url = fill_pool(shared)
    for host in hosts:
        fleet_home.group(f"two-{host.name}", instances=[0], bots=1, backend_options={"serials": [SERIAL]},
                         max_accounts=3, launch={"repeat": True, "refresh_pools": False})
    envs = {h.name: host_env(h, fleet_home.root, shared, tmp_path) for h in hosts}
    launches: dict[str, subprocess.Popen[str]] = {}
    try:
        with running_hosts(hosts, envs, fleet_home.root, workers=False):
            for host in hosts:  # both at once: the same serial on two hosts must never be one lock
                launches[host.name] = host.popen([str(BIN / "emufleet"), "groups", "launch", f"two-{host.name}",
                                                  "--no-watch"], env=envs[host.name], stdout=subprocess.PIPE,
                                                 stderr=subprocess.STDOUT)
            outputs = {name: proc.communicate(timeout=240)[0] for name, proc in launches.items()}
            for name, proc in launches.items():
                assert proc.returncode == 0, f"{name}:\n{outputs[name][-3000:]}"
            events = {h.name: sim_events(h, envs[h.name]) for h in hosts}
    finally:
        for proc in launches.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    eng = db.engine(accounts_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(db.RoutineExecution.account_id, db.RoutineExecution.execution_status,
                                       db.RoutineExecution.bot_instance, db.RoutineExecution.orchestration_id)).all()
            leased = conn.scalar(select(db.Account.id).where(db.Account.lease_token.is_not(None)).limit(1))
    finally:
        eng.dispose()
    completed = [r for r in rows if r.execution_status == "completed"]
    assert len(completed) == 6 and len({r.account_id for r in completed}) == 6  # no account played twice
    # the same serial, told apart by its host in the executions' instance
    assert {r.bot_instance for r in rows} == {f"{h.name}/{SERIAL}" for h in hosts}
    assert len({r.orchestration_id for r in rows}) == 2
    assert leased is None  # every lease returned
    per_launch = sorted(sum(1 for r in completed if r.orchestration_id == run) for run in {r.orchestration_id
                                                                                          for r in rows})
    assert per_launch == [3, 3]  # each host's launch played its max_accounts
    for host in hosts:  # each host's own device got its 3 accounts injected and its game stopped after each
        injected = injections(events[host.name])
        stops = [e for e in events[host.name] if e["kind"] == "am"]
        assert len(injected) >= 3 and len(stops) >= 3, (host.name, events[host.name][:20])

    async def limits() -> dict[str, int]:
        from prefect.client.orchestration import get_client

        from adapters.locks import limit_name

        async with get_client() as client:
            return {h.name: (await client.read_global_concurrency_limit_by_name(
                limit_name(InstanceId(h.name, SERIAL)))).active_slots for h in hosts}

    with on_server(shared):
        assert asyncio.run(limits()) == {"hosta": 0, "hostb": 0}  # two locks, both taken and freed


PER_HOST = 100  # two hosts: 200 commands

# One host's share, run in its namespace against the shared PostgreSQL. "send": PER_HOST commands, alternating a
# launch-wide pause/resume with a restart of bot 0 or 1. "take": a watcher of bots 0 and 1 (the other host's races
# it for the same cursors) until both cursors reach the last command; prints what it took, by bot.
_HOST_SIDE = """
import json, os, sys, time
from emufleet import db
from emufleet.control import CommandKind, CommandStore
role, launch, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
eng = db.engine(os.environ["EMUFLEET_DATABASE_URL"])
store = CommandStore(eng)
if role == "send":
    for i in range(total // 2):
        kind = CommandKind.RESTART_APP if i % 2 else (CommandKind.PAUSE if i % 4 == 0 else CommandKind.RESUME)
        store.send(launch, kind, bot=(i // 2) % 2 if i % 2 else None, source=os.environ["EMUFLEET_HOST"])
else:
    taken = {0: [], 1: []}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for bot in taken:
            taken[bot] += [c.seq for c in store.take(launch, bot)]
        if all(store.cursor(launch, bot) == total for bot in taken):
            break
        time.sleep(0.01)
    print(json.dumps(taken))
eng.dispose()
"""


def test_commands_from_both_hosts_at_once_lose_none_and_none_is_taken_twice(
        hosts: list[NetnsHost], shared: Shared, tmp_path: Path) -> None:
    db.upgrade(shared.accounts_url)
    eng = db.engine(shared.accounts_url)
    store, launch, total = CommandStore(eng), str(uuid.uuid4()), PER_HOST * len(hosts)
    store.open(launch)
    envs = {h.name: host_env(h, REPO, shared, tmp_path) for h in hosts}
    procs = [host.popen([str(BIN / "python"), "-c", _HOST_SIDE, role, launch, str(total)], env=envs[host.name],
                        cwd=REPO, stdout=subprocess.PIPE) for role in ("take", "send") for host in hosts]
    try:
        outputs = [proc.communicate(timeout=180)[0] for proc in procs]
        assert [p.returncode for p in procs] == [0] * len(procs), outputs
        sent = store.since(launch)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        eng.dispose()
    assert [c.seq for c in sent] == list(range(1, total + 1)), "numbered 1…200, no gap, no repeat"
    assert {h.name: sum(c.source == h.name for c in sent) for h in hosts} == {h.name: PER_HOST for h in hosts}
    takers = [{int(bot): seqs for bot, seqs in json.loads(out).items()} for out in outputs[:len(hosts)]]
    for bot in (0, 1):
        for taker in takers:
            assert taker[bot] == sorted(taker[bot]), f"bot {bot}: a watcher took its commands in order"
        both = sorted(seq for taker in takers for seq in taker[bot])
        assert both == [c.seq for c in sent if c.is_for(bot)], f"bot {bot}: each of its commands taken once"


@pytest.mark.usefixtures("run_bot")
def test_one_group_spans_two_hosts(hosts: list[NetnsHost], shared: Shared, fleet_home: FleetHome,
                                   tmp_path: Path) -> None:
    accounts_url = fill_pool(shared)
    write_hosts(fleet_home.root, hosts)
    # one account per bot (no repeat): with repeat the in-process bot could play the whole budget before the
    # other host's worker has started its bot's process (10-20 s), and that bot would never touch its device
    fleet_home.group("spread", instances=[f"{h.name}/{SERIAL}" for h in hosts], bots=2, max_accounts=2,
                     launch={"refresh_pools": False})
    envs = {h.name: host_env(h, fleet_home.root, shared, tmp_path) for h in hosts}
    a = hosts[0]
    with running_hosts(hosts, envs, fleet_home.root):
        launch = a.run([str(BIN / "emufleet"), "groups", "launch", "spread", "--no-watch"], env=envs[a.name],
                       timeout=300)
        assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
        events = {h.name: sim_events(h, envs[h.name]) for h in hosts}
    for host in hosts:  # each bot drove its own host's device
        injected = injections(events[host.name])
        assert injected, (host.name, events[host.name][:20], launch.stdout[-3000:], launch.stderr[-3000:])

    eng = db.engine(accounts_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(select(db.RoutineExecution.account_id, db.RoutineExecution.execution_status,
                                       db.RoutineExecution.orchestration_id)).all()
            leased = conn.scalar(select(db.Account.id).where(db.Account.lease_token.is_not(None)).limit(1))
    finally:
        eng.dispose()
    completed = [r for r in rows if r.execution_status == "completed"]
    assert len(completed) == 2 and len({r.account_id for r in completed}) == 2  # one budget, across both hosts
    assert len({r.orchestration_id for r in rows}) == 1 and leased is None  # one launch's leases, all returned

    from adapters.locks import limit_name
    from adapters.registry import bot_runs, bot_status

    async def check() -> None:
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            runs = await bot_runs(client, "spread", live=False)
            statuses = {bot_status(r).host: (r, bot_status(r)) for r in runs}  # type: ignore[union-attr]
            assert set(statuses) == {"hosta", "hostb"}
            remote_run, remote = statuses["hostb"]
            assert remote_run.deployment_id is not None and remote_run.parent_task_run_id is not None  # a subflow
            assert remote.state.value == "completed" and remote.accounts_completed >= 1
            assert remote.attempts >= 1 and remote.wall_s > 0  # how it ended rides on its last status labels
            assert statuses["hosta"][0].deployment_id is None  # the launching host's bot ran in-process
            for host in hosts:
                limit = await client.read_global_concurrency_limit_by_name(limit_name(InstanceId(host.name, SERIAL)))
                assert limit.active_slots == 0

    with on_server(shared):
        asyncio.run(check())
