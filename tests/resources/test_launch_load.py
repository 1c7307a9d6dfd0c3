"""Resource-aware launching against the real parts: a launch on the session Prefect server whose host has no room
sheds its bots with the reason in the launch table (locks freed, the load file written for ``/metrics``), and a
bot's captures through the real adb server are spaced in degraded mode and not in normal mode."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from emufleet.resources import CapturePacer, HostMonitor, LoadSample, ResourceSettings
from emufleet.routines import BotContext, Controller, RoutineRegistry, RoutineRun
from emufleet.vision import TemplateSet
from tests.fleet import FleetHome

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.prefect
def test_a_saturated_host_sheds_the_launch_bots_with_the_reason(prefect_server: Any, fleet_home: FleetHome,
                                                                simulator: Callable[..., Any]) -> None:
    from flows.launch_group import LaunchResult, launch_group
    from tests.flows.test_launch import lock_slots

    sim = simulator(instances=2)
    serials = [inst.serial for inst in sim.instances]
    (fleet_home.root / "hosts").mkdir()
    (fleet_home.root / "hosts" / "local.yaml").write_text(yaml.safe_dump({  # memory is always over 0.1 %
        "name": "local", "resources": {"max_memory_percent": 0.1, "recover_below_percent": 0.05,
                                       "wait_for_room_s": 0.2}}), encoding="utf-8")
    name = fleet_home.group("shed", instances=[0, 1], bots=2, backend_options={"serials": serials})
    state = asyncio.run(launch_group(name, return_state=True))
    result = state.result(raise_on_failure=False)
    assert isinstance(result, LaunchResult), state.message
    assert result.launched == 0 and [row.state for row in result.bots] == ["stopped", "stopped"]
    for row in result.bots:
        assert row.error is not None and row.error.startswith("shed: host saturated for 0.2 s: memory "), row.error
    assert asyncio.run(lock_slots(serials)) == [0, 0]  # the shed bots' instances are free again
    load = json.loads((fleet_home.root / "state" / "system" / "load-local.json").read_text())
    assert load["shed"] == 2 and load["host"] == "local" and 0 < load["memory_percent"] <= 100


def _reach_home(simulator: Callable[..., Any], pacer: CapturePacer) -> str:
    from emufleet.device import connect

    registry = RoutineRegistry.load(REPO / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    inst = simulator(instances=1, scenario="demo").instances[0]
    ctx = BotContext(connect(inst.serial), registry.templates, registry, Controller(), {}, pacer=pacer)
    RoutineRun(registry.get("demo/reach_home"), ctx, {}).run()
    return str(inst.state)


def test_degraded_mode_spaces_a_bots_captures_and_the_routine_still_completes(simulator: Callable[..., Any]
                                                                              ) -> None:
    settings = ResourceSettings(saturated_for_s=0, recovered_for_s=0, degraded_capture_interval_s=0.3)
    degraded, normal = HostMonitor(settings), HostMonitor(settings)
    degraded.feed(LoadSample(0.0, 99.0, 40.0))
    assert degraded.degraded and not normal.degraded
    slow, fast = CapturePacer(degraded), CapturePacer(normal)
    assert _reach_home(simulator, slow) == "home_ready"  # slower captures do not fail the routine
    assert _reach_home(simulator, fast) == "home_ready"
    assert slow.slowed > 0 and fast.slowed == 0
    sample = normal.feed(LoadSample(0.0, 10.0, 40.0)) or normal.sample
    assert sample is not None and sample.captures > 0 and sample.capture_ms is not None  # latencies were heard
