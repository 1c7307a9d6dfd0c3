"""The lease loop of the thread and process concurrency tests, and process entry points (importable by ``spawn``)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine

from emufleet import db
from emufleet.pools.leases import LeaseOwner, acquire, finish

Interval = tuple[int, str, float, float]  # (account id, worker, t_start, t_end) of one holding


def hold_leases(eng: Engine, owner: LeaseOwner, cycles: int) -> list[Interval]:
    """Lease, record the holding interval while holding it, return it; ``cycles`` times (a miss is skipped).

    Raises LeaseError when a return finds the account taken by someone else meanwhile (a double lease).
    """
    held: list[Interval] = []
    for _ in range(cycles):
        lease = acquire(eng, owner, ttl_s=60)
        if lease is None:
            continue
        start = time.monotonic()
        time.sleep(0.0005)  # hold it for a moment
        end = time.monotonic()
        held.append((lease.account_id, owner.instance, start, end))
        finish(eng, lease, "returned")
    return held


def lease_cycles(url: str, worker: str, cycles: int, out: Any) -> None:
    """:func:`hold_leases` in a child process on its own engine; the intervals are put on ``out``."""
    eng = db.engine(url)
    try:
        out.put(hold_leases(eng, LeaseOwner("proc-run", worker), cycles))
    finally:
        eng.dispose()


def lease_and_hang(url: str, ttl_s: float, leased: Any) -> None:
    """Take one lease with a short TTL, report its account id, then hang until killed (never releases)."""
    eng = db.engine(url)
    lease = acquire(eng, LeaseOwner("doomed-run", "0"), ttl_s=ttl_s)
    leased.put(lease.account_id if lease else None)
    while True:
        time.sleep(1)
