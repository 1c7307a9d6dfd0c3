"""The console's accounts tables at 10,000+ accounts: one page costs about what it costs at 100 (issue 13).

Two SQLite databases, one with ``--small`` (100) and one with ``--large`` (10,000) accounts, every account a member
of one pool. Through the real app (Starlette's TestClient, the whole request path: access middleware, SQL, Jinja2),
each database answers the same requests: the Accounts page and the pool's accounts tab, sorted by a column (the
last page, the worst case for ``OFFSET``) and searched by text. The baseline is the same request on the small
database in the same run; the ratios say how a page grows with the fleet. For scale, the time to read every
account (what a table without server-side pagination would do) is printed too. Last line, machine-readable::

    page_ratio_10k=<large/small, median over the requests> page_ms_10k=<ms> full_list_ratio=<full read / page>

Run: ``.venv/bin/python benchmarks/console.py [--small 100] [--large 10000] [--rounds 15]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from sqlalchemy import insert  # noqa: E402

from emufleet import db  # noqa: E402

POOL = "pool_name: bench\nqueries:\n  - name: all\n    filters: [{column: id, comparator: \">\", value: 0}]\n"


def setup(root: Path, accounts: int) -> str:
    """A project root with pool ``bench`` and a database of ``accounts`` members; returns the database URL."""
    (root / "pools").mkdir(parents=True)
    (root / "pools" / "bench.yaml").write_text(POOL, encoding="utf-8")
    url = f"sqlite:///{root / 'bench.db'}"
    db.upgrade(url)
    eng = db.engine(url)
    with eng.begin() as conn:
        conn.execute(insert(db.Account), [
            {"device_account": f"bench_{i:06d}@bench.invalid", "device_password": "pw", "packs_opened": i % 97,
             "shinedust": (i * 7919) % 10007, "pool_status": ("available", "completed", "failed")[i % 3]}
            for i in range(accounts)])
        conn.execute(insert(db.PoolRecord).values(name="bench", refreshed_at=db.utcnow()))
        conn.execute(insert(db.PoolMember), [{"pool_name": "bench", "account_id": i + 1, "position": i}
                                             for i in range(accounts)])
    eng.dispose()
    return url


def requests(accounts: int) -> list[tuple[str, str]]:
    last = (accounts + 49) // 50
    return [("accounts, sorted by shinedust, last page", f"/accounts?sort=shinedust&desc=1&page={last}"),
            ("accounts, text search", "/accounts?q=bench_0042"),
            ("pool tab, sorted by packs, last page", f"/pools/bench?tab=accounts&sort=packs_opened&page={last}"),
            ("accounts API, failed, sorted", "/api/accounts?state=failed&sort=packs_opened&desc=true&limit=50")]


def measure(root: Path, url: str, accounts: int, rounds: int) -> tuple[dict[str, float], float]:
    """Median ms per request, and the ms to read every account (the unpaginated alternative)."""
    os.environ["EMUFLEET_HOME"] = str(root)
    os.environ["EMUFLEET_DATABASE_URL"] = url
    from starlette.testclient import TestClient

    from console import ConsoleConfig, create_app
    from emufleet.accounts import list_accounts

    eng = db.engine(url)
    out: dict[str, float] = {}
    with TestClient(create_app(ConsoleConfig(prefect_ui_url=None), engine=eng), base_url="http://127.0.0.1") as c:
        for label, path in requests(accounts):
            assert c.get(path).status_code == 200, path  # warm-up (template compile, statement cache)
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                reply = c.get(path)
                times.append((time.perf_counter() - start) * 1000)
                assert reply.status_code == 200
            out[label] = statistics.median(times)
    start = time.perf_counter()
    for _ in range(3):
        list_accounts(eng)
    full_ms = (time.perf_counter() - start) * 1000 / 3
    eng.dispose()
    return out, full_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small_root, large_root = Path(tmp, "small"), Path(tmp, "large")
        small, _ = measure(small_root, setup(small_root, args.small), args.small, args.rounds)
        large, full_ms = measure(large_root, setup(large_root, args.large), args.large, args.rounds)
    print(f"{'request':<44} {args.small:>8} acc ms {args.large:>8} acc ms  ratio")
    ratios = []
    for label in small:
        ratio = large[label] / small[label]
        ratios.append(ratio)
        print(f"{label:<44} {small[label]:>15.1f} {large[label]:>15.1f} {ratio:>6.2f}")
    page_ms = statistics.median(large.values())
    print(f"reading all {args.large} accounts (no pagination): {full_ms:.1f} ms")
    print(f"page_ratio_10k={statistics.median(ratios):.2f} page_ms_10k={page_ms:.1f} "
          f"full_list_ratio={full_ms / page_ms:.2f}")


if __name__ == "__main__":
    main()
