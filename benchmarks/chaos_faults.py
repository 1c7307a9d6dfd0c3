"""The chaos benchmark's fault injector (``benchmarks/chaos.py``): a thread that, after a warm-up, injects one fault
every ``every_s / N`` seconds on the instance faulted least recently (ties at random) and not under a timed fault,
kinds drawn from a shuffled bag of every kind of :data:`emufleet.sim.faults.FAULT_KINDS`, through each simulator's
control socket; standing faults are cleared after a random time (see ``chaos.py``'s docstring for the ranges)."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from typing import Any

__all__ = ["WARMUP_S", "Chaos"]

WARMUP_S = 20.0  # no fault before the bots have started playing


class Chaos(threading.Thread):
    """Injects random faults of every kind on random instances until :meth:`halt`; clears timed faults itself."""

    def __init__(self, instances: dict[str, int], every_s: float, seed: int) -> None:
        super().__init__(name="chaos", daemon=True)
        self.instances = instances  # serial → control port
        self.every_s = every_s
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.errors: list[str] = []
        self._halt = threading.Event()
        self._bag: list[str] = []
        self._clears: list[tuple[float, str, str]] = []  # (when, serial, kind)
        self._last: dict[str, float] = {}  # serial → when its last fault was injected

    def halt(self) -> None:
        self._halt.set()

    def _send(self, serial: str, request: dict[str, Any]) -> None:
        from emufleet.sim.control import send_request

        reply = send_request(self.instances[serial], {**request, "serial": serial}, timeout_s=5.0)
        if not reply.get("ok"):
            raise RuntimeError(reply.get("error"))

    def _order(self) -> list[str]:
        """Instances, least recently faulted first (ties in random order): faults spread evenly over the bots."""
        keyed = [(self._last.get(s, 0.0), self.rng.random(), s) for s in self.instances]
        return [s for *_, s in sorted(keyed)]

    def _kind(self) -> str:
        from emufleet.sim.faults import FAULT_KINDS

        if not self._bag:
            self._bag = list(FAULT_KINDS)
            self.rng.shuffle(self._bag)
        return self._bag.pop()

    def _options(self, kind: str) -> tuple[dict[str, Any], float | None]:
        """A fault's options and, for standing faults, after how many seconds to clear it."""
        r = self.rng
        if kind == "drop":
            return {"on": r.choice(["screencap", "shell", "any"]), "count": r.randint(1, 3)}, None
        if kind in ("refuse", "silent"):
            return {}, r.uniform(2.0, 6.0)
        if kind in ("black_screen", "corrupt_screen"):
            return {}, r.uniform(1.0, 4.0)
        if kind == "latency":
            return {"screencap_ms": r.choice([150.0, 450.0, 900.0]), "input_ms": 100.0}, r.uniform(5.0, 15.0)
        if kind == "reboot":
            return {"down_s": 2.0, "boot_s": 3.0}, None
        if kind == "popup_storm":
            return {"interval_s": 2.0, "count": r.randint(2, 5)}, None
        return {}, None

    def run(self) -> None:
        if self.every_s <= 0 or self._halt.wait(WARMUP_S):  # --fault-every 0: no faults (a plain long run)
            return
        next_at = time.monotonic()
        while not self._halt.is_set():
            now = time.monotonic()
            for due in [c for c in self._clears if c[0] <= now]:
                self._clears.remove(due)
                self._try(due[1], {"op": "clear", "kind": due[2]})
            if now >= next_at:
                next_at = now + self.every_s / len(self.instances)
                busy = {c[1] for c in self._clears}
                free = [s for s in self._order() if s not in busy]
                if free:
                    serial, kind = free[0], self._kind()
                    self._last[serial] = now
                    options, clear_after = self._options(kind)
                    if self._try(serial, {"op": "fault", "kind": kind, "options": options}):
                        self.injected[kind] += 1
                        if clear_after is not None:
                            self._clears.append((now + clear_after, serial, kind))
            self._halt.wait(0.1)
        for serial in self.instances:  # leave the instances clean
            self._try(serial, {"op": "clear", "kind": None})

    def _try(self, serial: str, request: dict[str, Any]) -> bool:
        try:
            self._send(serial, request)
            return True
        except Exception as exc:  # noqa: BLE001 - reported at the end, the chaos goes on
            self.errors.append(f"{serial} {request.get('op')} {request.get('kind')}: {exc}")
            return False
