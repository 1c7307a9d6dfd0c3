"""``refresh_pool``: re-resolve account pools now (digest §5.4 ``RefreshPool``; seed ``001_…`` pre-launch refresh).

The flow behind the ``refresh-pool`` deployment: run it from the UI before a launch, or on a schedule, so pool
membership follows the database and the watched folders of account files.
"""

from __future__ import annotations

from dataclasses import asdict

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact

from tasks.phases import PoolSummary, refresh_pools, resolve_pools

__all__ = ["refresh_pool"]


@flow(name="refresh-pool", flow_run_name="refresh-{pools}", persist_result=False)
def refresh_pool(pools: list[str]) -> list[PoolSummary]:
    """Refresh the named pools (names, file stems or paths); returns each pool's member count.

    Raises:
        PoolValidationError: a pool is unknown or invalid (before anything is refreshed).
    """
    resolve_pools(pools)
    summaries = refresh_pools(pools)
    for summary in summaries:
        get_run_logger().info("pool %r: %s members", summary.name, summary.members)
    create_table_artifact([asdict(s) for s in summaries], key="pool-refresh", description="Pool membership")
    return summaries
