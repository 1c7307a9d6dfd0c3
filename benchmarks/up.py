"""``emufleet up`` cold and warm, timed (issue 21 item 3; seed 003 "full system startup < 10 seconds").

Run: ``.venv/bin/python benchmarks/up.py [--instances 2] [--target 10]``. Everything is isolated: a temporary state
folder (emufleet's SQLite database, the Prefect server's home and database, the process records), its own adb
server port, simulator ports, console port and host name; ``PREFECT_API_URL`` is unset so ``up`` starts its own
Prefect server. Sequence: ``up`` (cold: databases created), ``down``, ``up`` (warm: databases at their head,
every process stopped: what a morning start is), ``down``. Each ``up``'s step lines are printed as it printed them
(``[  t s] ok component: …``: seconds from the start of ``up`` to that component's readiness).

The machine-read last line::

    cold_s=<s> warm_s=<s> target_s=<s> met=<bool> load=<1-min load average at the warm start> server_cpu_s=<s>

``server_cpu_s``: the CPU seconds the Prefect server's process used until the warm ``up`` returned (see
:func:`_cpu_s`): on a machine with a free core for it, its start cannot take less wall time than that.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402

from emufleet.sim.adbserver import find_free_base_port, free_port  # noqa: E402 - after the sys.path line

CLI = [sys.executable, "-c", "from emufleet.cli import main; main()"]
_TOOK = re.compile(r"emufleet up: system up in ([0-9.]+) s \(Healthy\)")
_PID = re.compile(r"\] ok  (prefect|console|worker): .*?\(pid (\d+)")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def _cpu_s(stdout: str) -> dict[str, float]:
    """CPU seconds (user + system) each started process has used so far, by component: read right after ``up``
    returned, it is what the process needed to become ready; unlike wall time it hardly depends on the machine's
    load (the critical path on an idle machine is about the Prefect server's)."""
    out = {}
    for name, pid in _PID.findall(stdout):
        try:
            times = psutil.Process(int(pid)).cpu_times()
        except psutil.Error:
            continue
        out[name] = times.user + times.system
    return out


def _up(env: dict[str, str], label: str, args: list[str]) -> tuple[float, dict[str, float]]:
    began = time.monotonic()
    done = _cli(env, "up", *args)
    wall = time.monotonic() - began
    cpu = _cpu_s(done.stdout)
    print(f"--- {label} up (exit {done.returncode}, {wall:.1f} s wall including the CLI's own start)")
    print(done.stdout.rstrip())
    if done.returncode:
        print(done.stderr.rstrip())
        raise SystemExit(f"{label} up failed")
    found = _TOOK.search(done.stdout)
    assert found is not None, done.stdout
    print("CPU s to ready: " + " ".join(f"{k}={v:.1f}" for k, v in cpu.items()))
    return float(found.group(1)), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=2)
    parser.add_argument("--target", type=float, default=10.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emufleet-up-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        env.update({"EMUFLEET_STATE_DIR": str(Path(tmp) / "state"), "ANDROID_ADB_SERVER_PORT": str(free_port()),
                    "EMUFLEET_HOST": f"bench-{uuid.uuid4().hex[:8]}", "EMUFLEET_HOME": str(REPO)})
        env.pop("EMUFLEET_DATABASE_URL", None)
        up_args = ["--instances", str(args.instances), "--base-port", str(find_free_base_port(args.instances)),
                   "--console-port", str(free_port())]
        try:
            cold, _ = _up(env, "cold", up_args)
            down = _cli(env, "down")
            assert down.returncode == 0, down.stdout + down.stderr
            load = os.getloadavg()[0]
            warm, cpu = _up(env, "warm", up_args)
        finally:
            down = _cli(env, "down")
            print("--- down\n" + down.stdout.rstrip())
    print(f"cold_s={cold:.1f} warm_s={warm:.1f} target_s={args.target:.0f} met={str(warm <= args.target).lower()} "
          f"load={load:.1f} server_cpu_s={cpu.get('prefect', float('nan')):.1f}")


if __name__ == "__main__":
    main()
