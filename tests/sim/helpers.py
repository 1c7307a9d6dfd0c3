"""Helpers of the simulator suite: paths of its own scenario, and running the fake shell without sockets."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

from emufleet.sim.device import DeviceModel
from emufleet.sim.shell import Shell, ShellTranscript

DATA = Path(__file__).resolve().parent / "data"
BASIC = DATA / "basic" / "scenario.yaml"
PACKAGE = "com.example.simgame"
PREFS = f"/data/data/{PACKAGE}/shared_prefs/deviceAccount:.xml"


def run(device: DeviceModel, command: str, *, root: bool = False, stdin: bytes = b"") -> ShellTranscript:
    """Run a command line through the fake shell (no adb involved)."""
    return asyncio.run(Shell(device, root=root).run(command, stdin))


def wait_until(predicate: Callable[[], object], timeout_s: float = 15.0, what: str = "condition") -> None:
    """Poll ``predicate`` every 20 ms until it is truthy; ``AssertionError`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
