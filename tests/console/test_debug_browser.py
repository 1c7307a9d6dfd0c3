"""The step debugger in headless Chromium (tests/console/browser.py): a routine started on a simulated instance runs
to its breakpoint, holding the instance's lock as a bot does (a bot's lock request is refused, the holder is a live
debugger run); a step over shows the image checks' verdicts and the frame with their overlay; Stop ends it and
frees the instance."""

from __future__ import annotations

import asyncio
import contextvars
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.fleet import REPO, FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]
RELEASE_S = 60.0


async def _lock_state(serial: str) -> tuple[bool, list[Any]]:
    """Whether a bot could take the instance's lock now (taken and given back at once), and its live holders."""
    from prefect.client.orchestration import get_client

    from adapters.locks import holders, release, try_acquire
    from emufleet.control import ControlPlane
    from emufleet.hosts import InstanceId, this_host

    instance = InstanceId(this_host(), serial)
    plane = ControlPlane.connect()
    try:
        async with get_client() as client:
            held = await holders(client, plane.claims, instance)
            lock = await try_acquire(client, instance, holder=None)
            if lock is not None:
                await release(client, lock)
            return lock is not None, held
    finally:
        plane.engine.dispose()


def _lock_now(serial: str) -> tuple[bool, list[Any]]:
    # Playwright's sync API runs an event loop in this thread: the client's loop gets a thread of its own, with this
    # thread's context (the session's Prefect settings)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(contextvars.copy_context().run, asyncio.run, _lock_state(serial)).result()


def test_debugger_breakpoint_step_over_overlay_and_lock(page: Any, served: Any, shots: Any, fleet_home: FleetHome,
                                                        simulator: Callable[..., Any]) -> None:
    from adapters.debugging import is_debugger

    (fleet_home.root / "routines" / "demo").mkdir()
    shutil.copy(REPO / "routines" / "demo" / "reach_home.yaml", fleet_home.root / "routines" / "demo")
    inst = simulator(instances=1, scenario="demo").instances[0]
    page.goto("/routines")
    page.click('[data-routine="demo/reach_home"] [data-debug-link]')
    page.fill("input[name=serial]", inst.serial)
    page.fill("textarea[name=breakpoints]", "steps[1].actions[0]")
    page.check("input[type=checkbox][name=run]")
    page.click("#debug-go")
    where = page.locator("[data-pause-where]")
    where.wait_for()
    assert where.inner_text().startswith("demo/reach_home:steps[1].actions[0] If"), where.inner_text()
    assert "(breakpoint)" in page.locator("#debug-state").inner_text()
    assert page.locator('[data-var="calm_left"]').inner_text() == "6"

    free, held = _lock_now(inst.serial)
    assert not free, "a bot cannot take an instance the debugger holds"
    assert len(held) == 1 and is_debugger(held[0]), held  # a live claimer: reconcile never resets it

    number = int(page.locator("[data-pause-number]").get_attribute("data-pause-number"))
    page.click("[data-command=over]")
    page.wait_for_function(f"Number(document.querySelector('[data-pause-number]')?.dataset.pauseNumber) > {number}")
    last = page.locator("#debug-last").inner_text()
    assert "If finished" in last and "AppIcon" in last and ": found at (" in last, last
    page.wait_for_function("document.getElementById('debug-frame').naturalWidth === 540")
    shots(page, "debugger")

    page.click("[data-command=stop]")
    page.locator("[data-debug-ended]").wait_for()
    assert "stopped" in page.locator("[data-debug-ended]").inner_text()
    deadline = time.monotonic() + RELEASE_S
    while not _lock_now(inst.serial)[0]:  # released by the session's task after the stop
        assert time.monotonic() < deadline, "the debugger released the instance"
        time.sleep(0.2)
