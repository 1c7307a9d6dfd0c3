"""The shipped deployments: every entrypoint loads, its parameters validate, the schedule parses."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml
from prefect.flows import load_flow_from_entrypoint

from flows.server import PrefectServer
from tests.fleet import FleetHome

REPO = Path(__file__).resolve().parents[2]
SERVED = {"launch-group", "stop-group", "pause-group", "resume-group", "refresh-pool", "nightly-demo"}
EXPECTED = SERVED | {"run-bot"}  # run-bot: a launch starts it on another host's worker (one machine needs none)


def test_prefect_yaml_entrypoints_and_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)  # entrypoints are relative to the repo root, where `prefect deploy` runs
    spec = yaml.safe_load((REPO / "deployments" / "prefect.yaml").read_text(encoding="utf-8"))
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert set(deployments) == EXPECTED
    for name, deployment in deployments.items():
        flow = load_flow_from_entrypoint(deployment["entrypoint"])
        if name != "run-bot":  # its one parameter, the bot's spec, comes from launch-group
            flow.validate_parameters(deployment.get("parameters", {}))  # raises on a bad parameter
        assert deployment["work_pool"]["name"] == "emufleet", name
    (schedule,) = deployments["nightly-demo"]["schedules"]
    assert schedule["cron"] == "0 3 * * *" and schedule["active"] is False


def test_serve_builds_the_same_deployments(prefect_server: PrefectServer) -> None:
    sys.path.insert(0, str(REPO / "deployments"))
    try:
        import serve
    finally:
        sys.path.remove(str(REPO / "deployments"))
    built = {d.name: d for d in serve.build_deployments()}
    assert set(built) == SERVED
    assert built["nightly-demo"].paused is True and built["nightly-demo"].schedules
    assert built["launch-group"].parameters == {"group": "demo"}


def test_a_group_with_windows_gets_a_deployment_per_window_opening(prefect_server: PrefectServer,
                                                                   fleet_home: FleetHome) -> None:
    fleet_home.group("night", schedule={"timezone": "Europe/Paris", "windows": ["06:30-12:00", "18:00-02:00"],
                                        "daily_reset": "06:00", "margin": "10m"})
    fleet_home.group("always")
    sys.path.insert(0, str(REPO / "deployments"))
    try:
        import serve
    finally:
        sys.path.remove(str(REPO / "deployments"))
    (night,) = serve.window_deployments()
    assert night.name == "windows-night" and night.parameters == {"group": "night"}
    crons = sorted((s.schedule.cron, s.schedule.timezone) for s in night.schedules)
    assert crons == [("0 18 * * *", "Europe/Paris"), ("30 6 * * *", "Europe/Paris")]
