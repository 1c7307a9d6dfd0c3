"""Fencing end to end (docs/supervision.md "Fencing"): two bots of launch A drive two instances; the Prefect server
is killed for 75 s (past A's 60 s lock leases) and restarted; launch B is then started on the same instances
(``on_conflict: cancel``).

From the simulator's own per-instance event log (taps with timestamps; A and B tap different columns of the
screen), no instance ever receives input from both launches after B took it, and no A input reaches an instance
once A's lock lease could have expired during the outage. Each launch runs in its own process, against a Prefect
server of this test's own (the session's server must not be killed).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from adapters.locks import LEASE_S
from flows.server import PrefectServer, start_server, stop_server
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
# Past every lease A held: from the kill + LEASE_S to the restart (15 s), any A input is a fencing failure (A taps
# every 0.15 s while its fence lets it; the fence closes LEASE_S / 4 before a lease could expire).
OUTAGE_S = LEASE_S + 15
_LAUNCH = """
import asyncio, sys
from flows.launch_group import launch_group
state = asyncio.run(launch_group(sys.argv[1], return_state=True))
print("LAUNCH", sys.argv[1], state.type.value, state.message, flush=True)
"""
# Template-space x of each launch's taps: A taps the left column, B the right one (device x ≈ 1.95 × these).
_COLUMNS = {"a": (10, 40, 70), "b": (200, 230, 260)}


def _tapper(key: str) -> str:
    clicks = "\n".join(f"      - {{action: Click, x: {x}, y: 100}}" for x in _COLUMNS[key])
    return f"""version: 1
routine_name: taps column {key}
steps:
  - action: Repeat
    iterations: 100000
    actions:
{clicks}
      - {{action: Sleep, duration: 150ms}}
"""


def _launch(server: PrefectServer, group: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PREFECT_API_URL": server.api_url, "PREFECT_UI_URL": server.ui_url,
           "PREFECT_HOME": str(log.parent / f"client-{group}")}
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-c", _LAUNCH, group], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _taps(inst: Any, side: str) -> list[float]:
    """Times of the taps of launch ``side`` on ``inst`` (device x left or right of the middle)."""
    middle = 270
    return [e.t for e in inst.events if e.kind == "tap" and (e.detail["x"] < middle) == (side == "a")]


def _logs(folder: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(folder.glob("*.log")))


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str, folder: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{_logs(folder)}")
        time.sleep(0.5)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def test_no_instance_is_driven_by_two_launches(fleet_home: FleetHome, simulator: Callable[..., Any],
                                               tmp_path: Path) -> None:
    sim = simulator(instances=2)
    serials = [inst.serial for inst in sim.instances]
    for key in _COLUMNS:
        (fleet_home.root / "routines" / "test" / f"tap_{key}.yaml").write_text(_tapper(key), encoding="utf-8")
        # The taps land on the launcher: tell the health check that is the app in front.
        fleet_home.group(f"fence-{key}", routine=f"test/tap_{key}", pools=[], instances=[0, 1], bots=2,
                         backend_options={"serials": serials}, health={"package": "com.mumu.launcher"},
                         launch={"on_conflict": "cancel", "emulator_timeout": "60s", "refresh_pools": False})
    home = tmp_path / "prefect"
    server = start_server(home, record=False)
    port = int(server.api_url.rsplit(":", 1)[1].split("/")[0])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs.append(_launch(server, "fence-a", tmp_path / "a.log"))
        _wait(lambda: all(_taps(inst, "a") for inst in sim.instances), 90, "launch A to drive both instances", tmp_path)
        os.killpg(server.pid, signal.SIGKILL)  # the server dies without a word
        killed = time.time()
        time.sleep(OUTAGE_S)
        server = start_server(home, port, record=False)
        restarted = time.time()
        procs.append(_launch(server, "fence-b", tmp_path / "b.log"))
        _wait(lambda: all(_taps(inst, "b") for inst in sim.instances) or procs[1].poll() is not None, 120,
              "launch B to drive both instances", tmp_path)
        time.sleep(5)  # let both launches act on what they see
    finally:
        for proc in procs:
            _kill(proc)
        stop_server(server)
    logs = _logs(tmp_path)
    for inst in sim.instances:
        a, b = _taps(inst, "a"), _taps(inst, "b")
        assert a, f"{inst.serial}: A drove it before the outage"
        during = [t for t in a if killed + LEASE_S <= t < restarted]
        assert not during, f"{inst.serial}: {len(during)} A taps after A's lease could have expired\n{logs}"
        assert b, f"{inst.serial}: B took the instance after the restart\n{logs}"
        assert max(a) < min(b), (f"{inst.serial}: A tapped {sum(t > min(b) for t in a)} times after B's first tap: "
                                 f"two launches drove one device\n{logs}")
