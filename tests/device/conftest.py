"""Fixtures of the device suite: one instance of the solid-colour scenario and a ready ``Device`` on it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.device import Device

COLORS = str(Path(__file__).resolve().parent / "data" / "colors" / "scenario.yaml")


@pytest.fixture
def colors(simulator: Callable[..., Any]) -> Any:
    """One instance of the solid-colour scenario, connected; returns the SimInstance."""
    return simulator(scenario=COLORS).instances[0]


@pytest.fixture
def dev(colors: Any) -> Device:
    """A :class:`Device` on ``colors``, ready (10 s call timeout)."""
    device = Device(colors.serial, timeout_s=10)
    device.wait_ready(20)
    return device
