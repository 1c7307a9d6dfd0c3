"""``benchmarks/orchestration.py --hosts N``: one group's bots spread over N hosts, each host a Linux network
namespace (:mod:`tests.hosts.netns`, root), set up with :mod:`tests.hosts.multihost`.

:func:`run_hosts` (the benchmark's process, root namespace) starts a throwaway PostgreSQL cluster with the Prefect
server's database and the shared accounts database, the Prefect server on it (both on the hub address every
namespace routes to), the process work pool ``emufleet`` with the ``run-bot`` deployment, and on every host its
simulator (``ceil(max(--bots) / N)`` demo instances on ``127.0.0.1:16384 + 32·i``: the same serials on every
host, as on MuMu), its own adb server and its Prefect worker on its work queue. It then runs this benchmark again
inside the first host (``--from-host``), which launches group ``bench-hosts`` once per ``--bots`` count: the
first host's bots as in-process subflows, the others' through ``run-bot`` on their hosts' workers
(:mod:`adapters.dispatch`), and measures each launch with :func:`launch_from_host`.

The group: routine ``demo/account_cycle``, pool ``demo``, backend ``adb`` on the running instances
(``hosta/127.0.0.1:16384``, ``hostb/127.0.0.1:16384``, ``hosta/127.0.0.1:16416``, …: interleaved, so every
launch has ``bots / N`` bots per host), stagger 0, ``repeat`` off (each bot plays one account: with the
launch-wide ``max_accounts`` budget and ``repeat``, the bots started first would take most of it and every host's
per-bot figures would mix one-account and many-account sessions).

Per launch, per host and for all (server timestamps, seconds after the launch run's start): the bot runs'
creation, when they were *Running* (for a remote bot: its worker picked it up and started its process), their
first steps, ``launch_s``; Prefect API requests (the launching process's, and each remote bot process's, counted by
``request_hook/sitecustomize.py`` on the workers' ``PYTHONPATH``); ``engine ms/step``, ``step_overhead_ms`` and
``prefect_share`` as for one host (``benchmarks/orchestration.py``), a remote bot's clocks read from its
``bot.finished`` event (its final ``BotStatus`` stays in its own process).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import string
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from launch_records import (
    BotClocks,
    LaunchRecords,
    engine_ms,
    finished_clocks,
    overhead_ms,
    prefect_share,
    read_launch,
    spread,
)
from request_count import DIR_ENV, Requests, read_counts

__all__ = ["GROUP", "HostLaunch", "launch_from_host", "run_hosts"]

GROUP = "bench-hosts"
SPREAD_ENV = "EMUFLEET_BENCH_SPREAD"  # the launch's plan, from run_hosts to the --from-host process (JSON)
HERE = Path(__file__).resolve().parent
_NAN = float("nan")


def _range(values: tuple[float, float]) -> str:
    return f"+{values[0]:.2f} … +{values[1]:.2f} s" if values[0] == values[0] else "-"


@dataclass
class HostFigures:
    """One host's part of a launch."""

    name: str
    role: str
    bots: int = 0
    created: list[float] = field(default_factory=list)
    pending: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    first_steps: list[float] = field(default_factory=list)
    clocks: list[BotClocks] = field(default_factory=list)
    requests: int = 0
    busy: int = 0
    processes: int = 0  # bot processes whose requests were counted (remote hosts)
    completed: int = 0  # accounts
    bots_completed: int = 0
    recoveries: int = 0
    restarts: int = 0

    @property
    def launch_s(self) -> float:
        known = [s for s in self.first_steps if s == s]
        return max(known) if known and len(known) == self.bots else _NAN

    def per_bot(self, n: int) -> str:
        return f"{n / self.bots:.1f}" if self.bots else "-"


@dataclass
class HostLaunch:
    """One measured launch over several hosts: its table's rows (the figures of every host, and of all)."""

    bots: int
    database: str
    phases_end_s: float
    wall_s: float
    hosts: list[HostFigures]

    @property
    def clocks(self) -> list[BotClocks]:
        return [c for h in self.hosts for c in h.clocks]

    @property
    def launch_s(self) -> float:
        per_host = [h.launch_s for h in self.hosts]
        return max(per_host) if all(s == s for s in per_host) else _NAN

    @property
    def overhead_ms(self) -> float:
        return overhead_ms(self.clocks)

    @property
    def share(self) -> float:
        return prefect_share(self.clocks)

    def table(self) -> str:
        hosts = self.hosts

        def row(measure: str, everything: str, each: list[str]) -> str:
            return f"| {measure} | {everything} | {' | '.join(each)} |"

        def ratio(clocks: list[BotClocks]) -> str:
            base = engine_ms(clocks)
            return f"{overhead_ms(clocks):.1f} ({overhead_ms(clocks) / base if base else _NAN:.4f})"

        requests = sum(h.requests for h in hosts)
        lines = [row("measure", "all hosts", [f"{h.name} ({h.role})" for h in hosts]),
                 row("---", "---", ["---"] * len(hosts)),
                 row("Prefect server database", self.database, [""] * len(hosts)),
                 row("bots", str(self.bots), [str(h.bots) for h in hosts]),
                 row("launch phases done (pools, routine, instances)", f"+{self.phases_end_s:.2f} s",
                     [""] * len(hosts)),
                 row("bot runs created", _range(spread(c for h in hosts for c in h.created)),
                     [_range(spread(h.created)) for h in hosts]),
                 row("remote bot runs *Pending* (picked up by their worker)",
                     _range(spread(p for h in hosts for p in h.pending)), [_range(spread(h.pending)) for h in hosts]),
                 row("bot runs *Running* (remote: its process started)",
                     _range(spread(r for h in hosts for r in h.running)), [_range(spread(h.running)) for h in hosts]),
                 row("first steps started", _range(spread(s for h in hosts for s in h.first_steps)),
                     [_range(spread(h.first_steps)) for h in hosts]),
                 row("**launch_s** (launch start → every bot's first step)", f"**{self.launch_s:.2f}**",
                     [f"{h.launch_s:.2f}" for h in hosts]),
                 row("Prefect API requests during the launch (per bot)",
                     f"{requests} ({requests / self.bots:.1f})",
                     [f"{h.requests} ({h.per_bot(h.requests)})"
                      + (" launching process" if not i else f", {h.processes} bot processes counted")
                      for i, h in enumerate(hosts)]),
                 row("HTTP 503 answers seen by clients", str(sum(h.busy for h in hosts)), [str(h.busy) for h in hosts]),
                 row("engine ms/step (baseline)", f"{engine_ms(self.clocks):.1f}",
                     [f"{engine_ms(h.clocks):.1f}" for h in hosts]),
                 row("step_overhead_ms (ratio to baseline)", ratio(self.clocks), [ratio(h.clocks) for h in hosts]),
                 row("prefect_share", f"{self.share:.4f}", [f"{prefect_share(h.clocks):.4f}" for h in hosts]),
                 row("bots whose clocks were read (remote: `bot.finished` event)", str(len(self.clocks)),
                     [str(len(h.clocks)) for h in hosts]),
                 row("recoveries; restarts (the bots' last status)",
                     f"{sum(h.recoveries for h in hosts)}; {sum(h.restarts for h in hosts)}",
                     [f"{h.recoveries}; {h.restarts}" for h in hosts]),
                 row("bots completed; accounts completed; launch flow wall time",
                     f"{sum(h.bots_completed for h in hosts)}; {sum(h.completed for h in hosts)}; {self.wall_s:.1f} s",
                     [f"{h.bots_completed}; {h.completed}" for h in hosts])]
        return "\n".join(lines)


def _plan(devices: dict[str, list[str]]) -> list[str]:
    """The group's instances, interleaved over the hosts: ``hosta/<serial 0>``, ``hostb/<serial 0>``, …"""
    per_host = max(len(serials) for serials in devices.values())
    return [f"{host}/{serials[i]}" for i in range(per_host) for host, serials in devices.items() if i < len(serials)]


def _write_group(project: Path, instances: list[str]) -> None:
    import yaml

    launch = {"validate_routine": True, "validate_templates": True, "validate_emulators": True,
              "refresh_pools": True, "repeat": False, "on_conflict": "skip", "stagger": 0, "emulator_timeout": "120s",
              "restart_policy": {"mode": "on_failure", "max_restarts": 3, "initial_delay": "3s", "max_delay": "10s",
                                 "backoff_factor": 2},
              "stop_instances": "never"}
    data = {"version": 1, "name": GROUP, "description": "benchmarks/orchestration.py --hosts: one group over hosts",
            "routine": "demo/account_cycle", "backend": "adb", "instances": instances, "bots": len(instances),
            "pools": ["demo"], "launch": launch}
    (project / "groups" / f"{GROUP}.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def run_hosts(work: Path, project: Path, hosts: int, launches: list[int], script: Path) -> None:
    """Set up ``hosts`` namespace hosts and their shared services (module docstring), run ``script --from-host``
    in the first one (its output goes to ours), stop everything.

    Raises:
        SystemExit: network namespaces cannot be made here, or the measuring process failed.
    """
    from tests.hosts.netns import host_namespaces, netns_missing

    if (why := netns_missing()) is not None:
        raise SystemExit(f"--hosts {hosts}: {why}")
    from tests.hosts.multihost import (
        deploy_run_bot,
        fill_pool,
        host_env,
        running_hosts,
        shared_services,
        write_hosts,
    )

    for name in ("groups", "hosts"):  # this run's own definitions, not the checkout's
        (project / name).unlink()
        (project / name).mkdir()
    names = [f"host{letter}" for letter in string.ascii_lowercase[:hosts]]
    counts = work / "requests"
    counts.mkdir()
    with host_namespaces(names) as made, shared_services(made, work) as shared:
        write_hosts(project, made)
        os.environ["EMUFLEET_HOME"] = str(project)  # fill_pool reads pool `demo` from it
        fill_pool(shared, "demo")
        hook = os.pathsep.join(p for p in (str(HERE / "request_hook"), os.environ.get("PYTHONPATH")) if p)
        envs = {h.name: {**host_env(h, project, shared, work / "hosts"), "PYTHONPATH": hook, DIR_ENV: str(counts)}
                for h in made}
        deploy_run_bot(made[0], envs[made[0].name])
        per_host = math.ceil(max(launches) / hosts)
        with running_hosts(made, envs, project, instances=per_host) as devices:
            instances = _plan({name: device.serials for name, device in devices.items()})
            _write_group(project, instances)
            plan = {"instances": instances, "database": f"PostgreSQL (throwaway cluster, on {shared.hub})",
                    "roles": {h.name: ("launching host: in-process bots" if not i else "its worker: run-bot")
                              for i, h in enumerate(made)}}
            env = {**envs[made[0].name], SPREAD_ENV: json.dumps(plan)}
            measuring = made[0].popen([sys.executable, str(script), "--from-host", "--hosts", str(hosts), "--bots",
                                       *map(str, launches)], env=env)
            try:
                code = measuring.wait()
            finally:
                if measuring.poll() is None:  # interrupted: stop it before the hosts go
                    measuring.kill()
                    measuring.wait()
    if code:
        log = work / "prefect" / "server.log"  # the Prefect server's own account of a failure (removed with work)
        errors = [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
                  if "Error" in line or "error" in line] if log.exists() else []
        sys.stderr.write("".join(f"server.log: {line}\n" for line in errors[-30:]))
        raise SystemExit(f"the measuring process on {names[0]} failed (exit {code})")


def _remote_counts(folder: Path, run_ids: list[str], timeout_s: float = 30.0) -> dict[str, tuple[int, int]]:
    """The request counts of the remote bot processes ``run_ids`` (each writes its own when it exits)."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = read_counts(folder)
        if all(r in counts for r in run_ids) or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def _figures(plan: dict[str, object], result: object, records: LaunchRecords, finished: dict[object, dict[str, object]],
             counts: dict[str, tuple[int, int]], launching: tuple[int, int]) -> list[HostFigures]:
    from flows.launch_group import LaunchResult

    assert isinstance(result, LaunchResult)
    roles = plan["roles"]
    assert isinstance(roles, dict)
    hosts = {name: HostFigures(name, role) for name, role in roles.items()}
    first = next(iter(hosts.values()))
    first.requests, first.busy = launching
    for row in result.bots:
        host = hosts[row.instance.host]
        record = records.bots.get(f"{GROUP}-bot{row.bot}")
        host.bots += 1
        host.completed += row.accounts_completed
        host.bots_completed += row.state == "completed"
        if record is None:
            continue
        host.recoveries += record.recoveries
        host.restarts += record.restarts
        host.created.append(record.created_s)
        host.pending.append(record.pending_s)
        host.running.append(record.running_s)
        host.first_steps.append(record.first_step_s)
        if not record.deployed:
            host.clocks.append(BotClocks.of(row.steps_done, row.wall_s, row.step_s, row.engine_s, record))
            continue
        if (payload := finished.get(record.run_id)) is not None:
            host.clocks.append(BotClocks.of_finished(dict(payload), record))
        if (count := counts.get(str(record.run_id))) is not None:
            host.requests += count[0]
            host.busy += count[1]
            host.processes += 1
    return list(hosts.values())


def launch_from_host(launches: list[int]) -> list[HostLaunch]:
    """Inside the first host (``--from-host``): one launch of group ``bench-hosts`` per count in ``launches``,
    measured and printed as a table each. The plan comes from :func:`run_hosts` (``EMUFLEET_BENCH_SPREAD``)."""
    from emufleet.groups import LaunchOverrides
    from flows.launch_group import LaunchResult, launch_group

    plan = json.loads(os.environ[SPREAD_ENV])
    counts_dir = Path(os.environ[DIR_ENV])
    requests = Requests()
    out = []
    for bots in launches:
        overrides = LaunchOverrides(bots=bots, instances=plan["instances"][:bots], max_accounts=bots, stagger=0)
        mark = requests.mark
        started = time.perf_counter()
        state = asyncio.run(launch_group(GROUP, overrides, return_state=True))
        wall = time.perf_counter() - started
        launching = requests.since(mark)
        result = state.result(raise_on_failure=False)
        if not isinstance(result, LaunchResult):
            raise SystemExit(f"launch failed: {state.message}")
        records = asyncio.run(read_launch(result.flow_run_id, bots))
        remote = [b.run_id for b in records.bots.values() if b.deployed]
        finished = asyncio.run(finished_clocks(remote, within_s=wall + 600)) if remote else {}
        counts = _remote_counts(counts_dir, [str(r) for r in remote])
        out.append(HostLaunch(bots, plan["database"], records.phases_end_s, wall,
                              _figures(plan, result, records, finished, counts, launching)))
        print(f"\n{out[-1].table()}\n", flush=True)
    return out
