"""Account pools: the unified pool YAML, leases with TTL and heartbeat, and the routine engine's provider.

Usage::

    from emufleet import db
    from emufleet.pools import LeaseOwner, Pool, PoolDefinition
    definition = PoolDefinition.load("pools/demo.yaml")     # PoolValidationError: file:line:col: field: message
    pool = Pool(definition, db.engine(), LeaseOwner(run_id="flow-run-id", instance="127.0.0.1:16384"))
    lease = pool.next(timeout_s=30)                           # NoAccountsAvailable after 30 s
    pool.heartbeat(lease)                                     # extend by config.lease_ttl
    pool.complete(lease, AccountResult(success=True))         # or pool.fail(...) / pool.release(...)
    create_pool({"pool_name": "p", "include": ["a@x"]})       # pools/p.yaml, validated as files are
    update_pool("p", {...}); delete_pool("p")                 # see emufleet.pools.store

See docs/pools.md for the YAML reference and the lease model; digest §5 for the seed's behaviour.
"""

from __future__ import annotations

from emufleet.pools.budget import AccountBudget, BudgetState
from emufleet.pools.definition import PoolConfig, PoolDefinition, PoolFilter, PoolQuery, PoolSort
from emufleet.pools.filters import ALIASES, COLUMNS, COMPARATORS, SORT_METHODS, RelativeTime
from emufleet.pools.freshness import describe_freshness, format_age, last_refreshed, refreshed_ago
from emufleet.pools.heartbeat import HeartbeatThread
from emufleet.pools.leases import DEFAULT_TTL_S, Lease, LeaseOwner, effective_state, release_all
from emufleet.pools.pool import Pool, PoolStats, PoolTestResult, RefreshReport
from emufleet.pools.provider import PoolAccountProvider
from emufleet.pools.query import (
    AccountHistory,
    AccountPage,
    AccountRow,
    LeaseRow,
    account_history,
    count_by_state,
    held_leases,
    search_accounts,
)
from emufleet.pools.registry import PoolEntry, discover, find_pool
from emufleet.pools.reset import ResetReport, reset_accounts
from emufleet.pools.store import PoolSource, create_pool, delete_pool, pool_file_name, save_pool, update_pool

__all__ = [
    "ALIASES",
    "COLUMNS",
    "COMPARATORS",
    "DEFAULT_TTL_S",
    "SORT_METHODS",
    "AccountBudget",
    "AccountHistory",
    "AccountPage",
    "AccountRow",
    "BudgetState",
    "HeartbeatThread",
    "Lease",
    "LeaseOwner",
    "LeaseRow",
    "Pool",
    "PoolAccountProvider",
    "PoolConfig",
    "PoolDefinition",
    "PoolEntry",
    "PoolFilter",
    "PoolQuery",
    "PoolSort",
    "PoolSource",
    "PoolStats",
    "PoolTestResult",
    "RefreshReport",
    "RelativeTime",
    "ResetReport",
    "account_history",
    "count_by_state",
    "create_pool",
    "delete_pool",
    "describe_freshness",
    "discover",
    "effective_state",
    "find_pool",
    "format_age",
    "held_leases",
    "last_refreshed",
    "pool_file_name",
    "refreshed_ago",
    "release_all",
    "reset_accounts",
    "save_pool",
    "search_accounts",
    "update_pool",
]
