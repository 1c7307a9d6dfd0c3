"""The farm's pages in headless Chromium (Playwright): after two real launches on the simulator, the dashboard
draws its charts with their points, the history lists both launches, and a quarantined instance carries its badge
on the Instances page and is released from the dashboard."""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from emufleet.farm import list_launches, quarantine
from flows.launch_group import launch_group
from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _launch(name: str) -> Any:
    """A launch run to its end on a thread of its own (Playwright's sync API holds this thread's event loop), in
    this thread's context (the session's Prefect settings are context variables)."""
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(context.run, lambda: asyncio.run(launch_group(name, return_state=True))).result()


def test_dashboard_history_and_quarantine_in_a_browser(page: Any, served: Any, fleet_home: FleetHome, shots: Any,
                                                       simulator: Callable[..., Any]) -> None:
    serial = simulator(instances=1).instances[0].serial
    name = fleet_home.group("farmed", instances=[serial], backend_options={"serials": [serial]}, pools=["test"])
    assert _launch(name).is_completed()
    from emufleet.pools.reset import reset_accounts

    eng = fleet_home.engine()
    reset_accounts(eng, pool="test")  # the demo's second run: the same accounts again
    assert _launch(name).is_completed()
    assert len(list_launches(eng, group=name)) == 2

    page.goto("/?window=hour")
    page.wait_for_selector('figure[data-chart="accounts_completed,accounts_failed"][data-drawn="2"] canvas')
    data = json.loads(page.inner_text("#stats-data"))
    assert sum(data["series"]["accounts_completed"]["values"]) * data["bucket_s"] / 3600 == pytest.approx(2)
    shots(page, "dashboard")

    page.goto("/history")
    rows = page.locator("tr[data-launch]")
    assert rows.count() == 2
    assert rows.nth(0).locator('[data-col="done"]').inner_text() == "1"
    assert "Completed" in rows.nth(1).inner_text()
    shots(page, "history")

    quarantine(eng, "instance", f"local/{serial}", "5 fault(s) in the last 60 min (test)", cooldown_s=900)
    page.goto("/instances")
    badge = page.locator(f'[data-quarantined="{serial}"]').first
    badge.wait_for()
    assert "5 fault(s)" in (badge.get_attribute("title") or "")
    page.goto("/")
    page.click(f'tr[data-quarantine="local/{serial}"] button')
    page.wait_for_url("**/?msg=*")
    assert "released" in page.inner_text(".flash")
    assert page.locator("tr[data-quarantine]").count() == 0
