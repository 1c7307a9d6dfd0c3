"""The chaos benchmark's end checks (``benchmarks/chaos.py``): flow runs not in a final state, instance locks still
held, instances driven by two lock holders or outside every holder's run (from the simulators' own event logs), and
account leases left behind."""

from __future__ import annotations

__all__ = ["driving_inputs", "leaked_leases", "server_checks"]

INPUT_KINDS = frozenset({"tap", "swipe", "key", "text", "am", "file"})
CLOCK_TOLERANCE_S = 0.5  # simulator event times vs the Prefect server's run timestamps (one host)
FINAL_TYPES = ("COMPLETED", "FAILED", "CANCELLED", "CRASHED")


async def server_checks(group: str, serials: list[str], inputs: dict[str, list[float]]
                        ) -> tuple[list[str], int, list[str]]:
    """(``group``'s flow runs not final, leaked locks, double-driven instances with the reason) from the Prefect
    server."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

    from adapters.locks import LIMIT_PREFIX, limit_name
    from adapters.registry import BOT_TAG, group_tag
    from emufleet.hosts import InstanceId
    from emufleet.hosts.registry import this_host

    async with get_client() as client:
        runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(
            all_=[group_tag(group)])), limit=200)
        unfinished = [f"{r.name}: {r.state_type.value if r.state_type else '?'}" for r in runs
                      if r.state_type is None or r.state_type.value not in FINAL_TYPES]
        limits = await client.read_global_concurrency_limits(limit=200)
        leaked = [lim.name for lim in limits if lim.name.startswith(LIMIT_PREFIX) and lim.active_slots > 0]
        doubles = []
        for serial in serials:
            claimants = await client.read_flow_runs(flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[limit_name(InstanceId(this_host(), serial)), BOT_TAG])), limit=50)
            spans = sorted((r.start_time.timestamp(), r.end_time.timestamp() if r.end_time else float("inf"))
                           for r in claimants if r.start_time is not None)
            overlap = any(b[0] < a[1] for a, b in zip(spans, spans[1:], strict=False))
            outside = [t for t in inputs.get(serial, []) if not any(
                s - CLOCK_TOLERANCE_S <= t <= e + CLOCK_TOLERANCE_S for s, e in spans)]
            if overlap:
                doubles.append(f"{serial}: two run-bot runs held it at once")
            elif outside:
                doubles.append(f"{serial}: {len(outside)} input(s) outside every lock holder's run")
    return unfinished, len(leaked), doubles


def driving_inputs(instances: dict[str, int]) -> dict[str, list[float]]:
    """Times of every driving event of each instance, from the simulators' event logs."""
    from emufleet.sim.control import send_request

    out = {}
    for serial, port in instances.items():
        reply = send_request(port, {"op": "events", "serial": serial}, timeout_s=30.0)
        out[serial] = [e["t"] for e in reply.get("events", []) if e["kind"] in INPUT_KINDS]
    return out


def leaked_leases(database_url: str) -> list[str]:
    """The accounts that still carry a lease token."""
    from sqlalchemy import select

    from emufleet import db

    engine = db.engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(db.Account.device_account).where(db.Account.lease_token.is_not(None)))
                        .scalars())
    finally:
        engine.dispose()
