"""Running a simulator as a process: foreground or detached, its state files, and stopping it (``emufleet sim``).

A running simulator (``emufleet sim up``) writes two files under :func:`emufleet.settings.state_dir`, keyed by its
base port so that several can run side by side:

* ``sim-<base_port>.pid``: the process id;
* ``sim-<base_port>.json``: pid, serials, scenario and the port of its control socket (:mod:`emufleet.sim.control`).

Both are removed when it stops. ``--detach`` starts the same command detached
(:func:`emufleet.process.spawn_detached`) with its output in ``sim-<base_port>.log`` and returns once the child has
written its files; ``emufleet sim down`` stops it (:func:`emufleet.process.stop_tree`), waits until its ports are
closed, and removes the files.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from emufleet.errors import SimulatorError
from emufleet.process import pid_alive, spawn_detached, stop_tree
from emufleet.settings import state_dir
from emufleet.sim.control import serve_control
from emufleet.sim.server import Simulator

__all__ = ["SimRecord", "find_record", "read_records", "run_foreground", "start_detached", "stop"]


@dataclass(frozen=True, slots=True)
class SimRecord:
    """What a running simulator process wrote about itself."""

    pid: int
    base_port: int
    serials: list[str]
    scenario: str
    control_port: int
    started: float

    @property
    def json_path(self) -> Path:
        return state_dir() / f"sim-{self.base_port}.json"

    @property
    def pid_path(self) -> Path:
        return state_dir() / f"sim-{self.base_port}.pid"


def log_path(base_port: int) -> Path:
    return state_dir() / f"sim-{base_port}.log"


def read_records() -> list[SimRecord]:
    """Records of running simulators; files left by dead processes are removed."""
    out = []
    for path in sorted(state_dir().glob("sim-*.json")):
        try:
            record = SimRecord(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            continue
        if pid_alive(record.pid, reap=True):
            out.append(record)
        else:
            _remove(record)
    return out


def find_record(serial: str) -> SimRecord:
    """The running simulator that serves ``serial``; raises SimulatorError."""
    records = read_records()
    for record in records:
        if serial in record.serials:
            return record
    known = ", ".join(s for r in records for s in r.serials) or "none running"
    raise SimulatorError(f"no running simulator serves {serial} (serials: {known}; start one with "
                         "`emufleet sim up`)")


def _remove(record: SimRecord) -> None:
    for path in (record.json_path, record.pid_path):
        path.unlink(missing_ok=True)


def run_foreground(instances: int, scenario: str, base_port: int,
                   on_ready: Callable[[Simulator, SimRecord], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM; the state files exist while it runs. Raises ScenarioError/SimulatorError."""
    stop_signals = (signal.SIGINT, signal.SIGTERM)

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in stop_signals}
    sim = Simulator(instances=instances, scenario=scenario, base_port=base_port)
    record = None
    try:
        sim.start()
        record = SimRecord(os.getpid(), base_port, sim.serials, str(scenario), serve_control(sim), time.time())
        record.pid_path.write_text(f"{record.pid}\n")
        tmp = record.json_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        tmp.replace(record.json_path)  # atomic: readers never see half a file
        if on_ready is not None:
            on_ready(sim, record)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
        if record is not None:
            _remove(record)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def start_detached(instances: int, scenario: str, base_port: int, timeout_s: float = 30.0) -> SimRecord:
    """Start ``emufleet sim up`` in the background; returns its record once it serves. Raises SimulatorError."""
    log = log_path(base_port)
    args = [sys.executable, "-c", "from emufleet.cli import main; main()", "sim", "up", "--instances",
            str(instances), "--scenario", str(scenario), "--base-port", str(base_port)]
    log.unlink(missing_ok=True)  # the log of this start only
    pid = spawn_detached(args, log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(pid, reap=True):
            tail = log.read_text(errors="replace").strip().splitlines()[-5:]
            raise SimulatorError("the simulator exited during start-up: " + " / ".join(tail))
        for record in read_records():
            if record.pid == pid:
                return record
        time.sleep(0.05)
    stop_tree(pid)
    raise SimulatorError(f"the simulator did not start within {timeout_s} s (log: {log})")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(record: SimRecord, timeout_s: float = 10.0) -> None:
    """Stop the simulator (:func:`emufleet.process.stop_tree`: terminate, kill after ``timeout_s``) and wait until
    its ports are closed. Raises SimulatorError when it did not stop."""
    stop_tree(record.pid, timeout_s=timeout_s)
    _remove(record)
    ports = [int(s.rsplit(":", 1)[1]) for s in record.serials] + [record.control_port]
    if pid_alive(record.pid, reap=True) or any(_port_open(p) for p in ports):
        raise SimulatorError(f"simulator pid {record.pid} did not stop")
