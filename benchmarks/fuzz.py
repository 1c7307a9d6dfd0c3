"""A mutation campaign over every loader a user feeds by hand, with a per-input watchdog and a memory cap.

Usage::

    .venv/bin/python benchmarks/fuzz.py [--inputs 10000] [--seed 1] [--timeout 5] [--memory-mb 1024]

Inputs are mutations of the shipped files (:mod:`tests.fuzz.corpus`) and the generated classes of
:mod:`tests.fuzz.classes` (files that are not regular files in every data folder, declared XML encodings, image
sizes, command-line arguments), spread evenly over the loaders. They run in
a worker process limited to ``--memory-mb`` of address space; an input that takes longer than ``--timeout``
seconds of CPU time kills the worker (a *hang*, and a new worker takes over); an exception other than our located
``InputError`` is a *traceback*, as is a bad file that took a shipped one down. Crashing inputs are saved under
``var/fuzz/`` to replay. Prints a table per loader, then
``crashed=0 hung=0 rejected=N loaded=N | inputs=N located=N accepted=N tracebacks=0 hangs=0`` as its last line.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from tests.fuzz.corpus import ALL_KINDS, Mutator, Workspace  # noqa: E402


def _worker(conn: Connection, memory_mb: int) -> None:
    logging.disable(logging.WARNING)  # "account folder … does not exist" and the like, thousands of times
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    with tempfile.TemporaryDirectory(prefix="emufleet-fuzz-") as tmp:
        ws = Workspace(Path(tmp))
        conn.send("ready")
        while True:
            job = conn.recv()
            if job is None:
                break
            kind, data = job
            try:
                conn.send((ws.run(kind, data), ""))
            except BaseException as exc:  # noqa: BLE001 - every escape is what we count
                conn.send(("traceback", "".join(traceback.format_exception(exc))[-2000:]))
        ws.close()


class _Runner:
    """One worker process at a time; replaced after a hang."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self._start()

    def _start(self) -> None:
        self.conn, child = mp.Pipe()
        self.proc = mp.get_context("spawn").Process(target=_worker, args=(child, self.memory_mb), daemon=True)
        self.proc.start()
        if not self.conn.poll(120) or self.conn.recv() != "ready":
            raise SystemExit("fuzz worker did not start")

    def _cpu_s(self) -> float:
        """CPU seconds the worker has used (Linux ``/proc``; wall time stands in elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return time.monotonic()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(self, kind: str, data: bytes, timeout_s: float) -> tuple[str, str]:
        """Outcome of one input. A hang is ``timeout_s`` of the worker's CPU time (a shared machine's load does
        not count), or 10 × ``timeout_s`` of wall time (a worker blocked on something)."""
        try:
            self.conn.send((kind, data))
            cpu, wall = self._cpu_s(), time.monotonic()
            while not self.conn.poll(0.1):
                if self._cpu_s() - cpu > timeout_s or time.monotonic() - wall > 10 * timeout_s:
                    break
            else:
                return self.conn.recv()
            outcome: tuple[str, str] = ("hang", f"no answer after {timeout_s:g} s of CPU time")
        except (EOFError, OSError) as exc:  # the worker died (killed by the memory cap, a crash in C)
            outcome = ("traceback", f"worker died: {exc!r}")
        self.proc.kill()
        self.proc.join()
        self._start()
        return outcome

    def close(self) -> None:
        self.conn.send(None)
        self.proc.join(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--memory-mb", type=int, default=1024, help="address-space cap of the worker")
    args = parser.parse_args()
    out = REPO / "var" / "fuzz"
    mutator = Mutator(args.seed)
    runner = _Runner(args.memory_mb)
    counts: dict[str, Counter[str]] = {kind: Counter() for kind in ALL_KINDS}
    started = time.perf_counter()
    for i in range(args.inputs):
        kind = ALL_KINDS[i % len(ALL_KINDS)]
        data = mutator.input_for(kind)
        outcome, detail = runner.run(kind, data, args.timeout)
        counts[kind][outcome] += 1
        if outcome in ("traceback", "hang"):
            out.mkdir(parents=True, exist_ok=True)
            (out / f"{kind}-{args.seed}-{i}.bin").write_bytes(data)
            print(f"{outcome}: {kind} input {i} (saved to var/fuzz/{kind}-{args.seed}-{i}.bin)\n{detail}",
                  file=sys.stderr)
    runner.close()
    elapsed = time.perf_counter() - started
    print(f"{'loader':10} {'inputs':>7} {'located':>8} {'accepted':>9} {'tracebacks':>11} {'hangs':>6}")
    for kind, c in counts.items():
        print(f"{kind:10} {sum(c.values()):7} {c['located']:8} {c['accepted']:9} {c['traceback']:11} {c['hang']:6}")
    total: Counter[str] = sum(counts.values(), Counter())
    print(f"{args.inputs} inputs in {elapsed:.1f} s ({args.inputs / elapsed:.0f} inputs/s)")
    print(f"crashed={total['traceback']} hung={total['hang']} rejected={total['located']} loaded={total['accepted']}"
          f" | inputs={args.inputs} located={total['located']} accepted={total['accepted']}"
          f" tracebacks={total['traceback']} hangs={total['hang']}")


if __name__ == "__main__":
    main()
