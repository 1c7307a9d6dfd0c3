"""Account pools: the unified pool YAML, leases with TTL and heartbeat, and the routine engine's provider.

Usage::

    from emufleet import db
    from emufleet.pools import LeaseOwner, Pool, PoolDefinition
    definition = PoolDefinition.load("pools/demo.yaml")     # PoolValidationError: file:line:col: field: message
    pool = Pool(definition, db.engine(), LeaseOwner(run_id="flow-run-id", instance="127.0.0.1:16384"))
    lease = pool.next(timeout_s=30)                           # NoAccountsAvailable after 30 s
    pool.heartbeat(lease)                                     # extend by config.lease_ttl
    pool.complete(lease, AccountResult(success=True))         # or pool.fail(...) / pool.release(...)

See docs/pools.md for the YAML reference and the lease model; digest §5 for the seed's behaviour.
"""

from __future__ import annotations

from emufleet.pools.definition import PoolConfig, PoolDefinition, PoolFilter, PoolQuery, PoolSort
from emufleet.pools.filters import ALIASES, COLUMNS, COMPARATORS, SORT_METHODS, RelativeTime
from emufleet.pools.heartbeat import HeartbeatThread
from emufleet.pools.leases import DEFAULT_TTL_S, Lease, LeaseOwner, release_all
from emufleet.pools.pool import Pool, PoolStats, PoolTestResult, RefreshReport
from emufleet.pools.provider import PoolAccountProvider
from emufleet.pools.registry import PoolEntry, discover, find_pool

__all__ = [
    "ALIASES",
    "COLUMNS",
    "COMPARATORS",
    "DEFAULT_TTL_S",
    "SORT_METHODS",
    "HeartbeatThread",
    "Lease",
    "LeaseOwner",
    "Pool",
    "PoolAccountProvider",
    "PoolConfig",
    "PoolDefinition",
    "PoolEntry",
    "PoolFilter",
    "PoolQuery",
    "PoolSort",
    "PoolStats",
    "PoolTestResult",
    "RefreshReport",
    "RelativeTime",
    "discover",
    "find_pool",
    "release_all",
]
