"""Fixtures of the simulator suite: its own scenario, and an in-process device model without sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from emufleet.sim.device import DeviceModel
from emufleet.sim.render import Renderer
from emufleet.sim.scenario import Scenario, load_scenario
from tests.sim.helpers import BASIC


@pytest.fixture(scope="session")
def basic_scenario() -> Scenario:
    return load_scenario(BASIC)


@pytest.fixture
def device(basic_scenario: Scenario, tmp_path: Path) -> DeviceModel:
    """A device model of the basic scenario, driven without sockets."""
    return DeviceModel(0, "127.0.0.1:1", basic_scenario, Renderer(basic_scenario), tmp_path / "dev")
