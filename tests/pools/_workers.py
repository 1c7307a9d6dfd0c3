"""Process entry points for the multi-process lease tests (importable by ``spawn`` children)."""

from __future__ import annotations

import time
from typing import Any

from emufleet import db
from emufleet.pools.leases import LeaseOwner, acquire, finish


def lease_cycles(url: str, worker: str, cycles: int, out: Any) -> None:
    """Lease, record ``(account, worker, t_start, t_end)`` while holding it, return it; ``cycles`` times."""
    eng = db.engine(url)
    owner = LeaseOwner("proc-run", worker)
    held: list[tuple[int, str, float, float]] = []
    try:
        for _ in range(cycles):
            lease = acquire(eng, owner, ttl_s=60)
            if lease is None:
                continue
            start = time.monotonic()
            time.sleep(0.0005)  # hold it for a moment
            end = time.monotonic()
            held.append((lease.account_id, worker, start, end))
            finish(eng, lease, "returned")  # raises LeaseError if anyone took it meanwhile
    finally:
        eng.dispose()
    out.put(held)


def lease_and_hang(url: str, ttl_s: float, leased: Any) -> None:
    """Take one lease with a short TTL, report its account id, then hang until killed (never releases)."""
    eng = db.engine(url)
    lease = acquire(eng, LeaseOwner("doomed-run", "0"), ttl_s=ttl_s)
    leased.put(lease.account_id if lease else None)
    while True:
        time.sleep(1)
