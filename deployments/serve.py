"""Serve emufleet's deployments from one process (no work pool needed): ``python deployments/serve.py``.

The same deployments as ``deployments/prefect.yaml`` (which ``prefect deploy`` uses with a process work pool):
``launch-group``, ``stop-group``, ``pause-group``, ``resume-group``, ``refresh-pool`` and the scheduled example
``nightly-demo`` (03:00 UTC, paused until you enable it in the UI). Each triggered run executes in its own
subprocess of this one. Uses the Prefect server of ``PREFECT_API_URL``, or the local one (started if needed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVE_POLL_S = 1  # runner poll: ≈ 3 s from "Run" in the UI to a running flow, instead of ≈ 10 s by default


def build_deployments() -> list[Any]:
    """The deployments, as ``RunnerDeployment`` objects (importing the flows needs a configured Prefect)."""
    from prefect.schedules import Cron

    from flows.control import pause_group, resume_group, stop_group
    from flows.launch_group import launch_group
    from flows.refresh_pool import refresh_pool

    common: dict[str, Any] = {"tags": ["emufleet"]}
    return [
        launch_group.to_deployment(name="launch-group", parameters={"group": "demo"}, **common),
        stop_group.to_deployment(name="stop-group", parameters={"group": "demo"}, **common),
        pause_group.to_deployment(name="pause-group", parameters={"group": "demo"}, **common),
        resume_group.to_deployment(name="resume-group", parameters={"group": "demo"}, **common),
        refresh_pool.to_deployment(name="refresh-pool", parameters={"pools": ["demo"]}, **common),
        launch_group.to_deployment(name="nightly-demo", parameters={"group": "demo"},
                                   schedule=Cron("0 3 * * *", timezone="UTC"), paused=True,
                                   tags=["emufleet", "scheduled"]),
    ]


def main() -> None:
    from flows.server import ensure_server, use_server

    server = ensure_server()
    use_server(server)  # before Prefect is imported
    from prefect import serve

    print(f"serving emufleet deployments on {server.ui_url}/deployments (Ctrl-C to stop)")
    serve(*build_deployments(), query_seconds=SERVE_POLL_S)


if __name__ == "__main__":
    main()
