"""Lease throughput on one SQLite file: 8 concurrent workers as threads and as processes (digest §5.6).

Each worker is its own launch (``Pool`` + ``LeaseOwner``), resolves the pool once, then loops
``try_next()`` → ``complete()`` until the pool is empty, so every account is leased exactly once: any account
id seen twice is a **double lease**. One checkout = the compare-and-set ``UPDATE`` + the completing ``UPDATE``
(with its result row). The baseline is one worker on the same machine in the same run; ratios are printed
against it. The last line is machine-readable::

    leases_per_s=<float> double_leases=<int>

where ``leases_per_s`` is the slower of the two 8-worker modes (targets: >= 500 and 0).

Run: ``.venv/bin/python benchmarks/leases.py [--accounts 2000] [--workers 8]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from emufleet import db  # noqa: E402
from emufleet.pools import LeaseOwner, Pool, PoolDefinition  # noqa: E402
from emufleet.routines.accounts import AccountResult  # noqa: E402

POOL_YAML = """
pool_name: bench
queries:
  - name: available
    filters: [{column: pool_status, comparator: "=", value: available}]
config: {sort_method: packs_desc, lease_ttl: 300}
"""


def setup(url: str, accounts: int) -> None:
    """A fresh database with ``accounts`` available accounts."""
    db.upgrade(url)
    eng = db.engine(url)
    with eng.begin() as conn:
        conn.execute(insert(db.Account), [
            {"device_account": f"bench_{i:06d}@bench.invalid", "device_password": "pw", "packs_opened": i % 97}
            for i in range(accounts)])
    eng.dispose()


def worker(url: str, name: str, start: Any, out: Any) -> None:
    """One launch: resolve, wait for the start signal, then lease and complete until nothing is left."""
    eng = db.engine(url)
    pool = Pool(PoolDefinition.loads(POOL_YAML), eng, LeaseOwner(f"bench-{name}", name))
    pool.refresh()
    start.wait()
    leased: list[int] = []
    while (lease := pool.try_next()) is not None:
        leased.append(lease.account_id)
        pool.complete(lease, AccountResult(success=True, packs_opened=1))
    eng.dispose()
    out.put(leased)


def run(mode: str, workers: int, accounts: int, tmp: Path) -> tuple[float, int, int]:
    """Run one mode; returns (leases per second, leases, double leases)."""
    url = f"sqlite:///{tmp / f'{mode}-{workers}.db'}"
    setup(url, accounts)
    if mode == "threads":
        import queue

        start: Any = threading.Barrier(workers + 1)
        out: Any = queue.Queue()
        runners: list[Any] = [threading.Thread(target=worker, args=(url, f"t{i}", start, out))
                              for i in range(workers)]
    else:
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Barrier(workers + 1)
        out = ctx.Queue()
        runners = [ctx.Process(target=worker, args=(url, f"p{i}", start, out)) for i in range(workers)]
    for r in runners:
        r.start()
    start.wait()  # every worker has resolved its pool: the clock starts now
    t0 = time.perf_counter()
    leased = [account for _ in runners for account in out.get(timeout=600)]
    elapsed = time.perf_counter() - t0
    for r in runners:
        r.join(60)
    doubles = sum(n - 1 for n in Counter(leased).values() if n > 1)
    return len(leased) / elapsed, len(leased), doubles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=2000, help="accounts per 8-worker run")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="emufleet-bench-") as tmp:
        base_rate, base_n, base_doubles = run("threads", 1, args.accounts // 2, Path(tmp))
        print(f"baseline 1 worker: {base_rate:8.1f} leases/s ({base_n} leases)")
        results = {}
        for mode in ("threads", "processes"):
            rate, n, doubles = run(mode, args.workers, args.accounts, Path(tmp))
            results[mode] = (rate, doubles)
            print(f"{args.workers} {mode:9s}: {rate:8.1f} leases/s ({n} leases, {doubles} double) "
                  f"ratio vs baseline {rate / base_rate:.2f}")
            if n != args.accounts:
                print(f"  warning: {args.accounts - n} accounts were never leased")
    rate = min(r for r, _ in results.values())
    doubles = base_doubles + sum(d for _, d in results.values())
    print(f"leases_per_s={rate:.1f} double_leases={doubles}")


if __name__ == "__main__":
    main()
