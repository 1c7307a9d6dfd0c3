"""Serve emufleet's deployments from one process (no work pool needed): ``python deployments/serve.py``.

The same deployments as ``deployments/prefect.yaml`` (which ``prefect deploy`` uses with a process work pool):
``launch-group``, ``stop-group``, ``pause-group``, ``resume-group``, ``refresh-pool`` and the scheduled example
``nightly-demo`` (03:00 UTC, paused until you enable it in the UI), and one ``windows-<group>`` deployment per group
whose definition declares schedule windows (docs/farm.md): a launch at each window's opening, in its time zone.
Each triggered run executes in its own subprocess of this one. Uses the Prefect server of ``PREFECT_API_URL``,
or the local one (started if needed).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SERVE_POLL_S = 1  # runner poll: ≈ 3 s from "Run" in the UI to a running flow, instead of ≈ 10 s by default


def window_deployments() -> list[Any]:
    """``windows-<group>`` for each valid group definition with ``schedule.windows``: one cron schedule per window,
    firing at its opening in the schedule's time zone."""
    from prefect.schedules import Cron

    from emufleet.groups import GroupStore
    from flows.launch_group import launch_group

    out = []
    for name, group in sorted(GroupStore().list().groups.items()):
        if group.schedule is None or not group.schedule.windows:
            continue
        out.append(launch_group.to_deployment(
            name=f"windows-{name}", parameters={"group": name}, tags=["emufleet", "scheduled", "windows"],
            description=f"Launch {name} at each window's opening ({group.schedule.describe()}).",
            schedules=[Cron(cron, timezone=zone) for cron, zone in group.schedule.cron_schedules()]))
    return out


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
        *window_deployments(),
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
