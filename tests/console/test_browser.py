"""The console in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

A user creates a group (and first sees its validation error inline), launches it on a simulated device, watches
its instance change state live (SSE, no reload), pauses, resumes, restarts its app and stops it; edits a pool
filter and tests it live, creates and deletes a pool; visits every page. A screenshot of each page is kept under
``var/test-output/console/`` (``EMUFLEET_TEST_OUTPUT`` overrides ``var/test-output``).

Without Chromium or the ``playwright`` package the tests skip, saying why — unless ``EMUFLEET_REQUIRE_BROWSER=1``
(CI), where they fail instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml

from tests.fleet import FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

def test_create_launch_watch_pause_stop_a_group(page: Any, served: Any, fleet_home: FleetHome, shots: Any,
                                                simulator: Callable[..., Any]) -> None:
    serial = simulator(instances=1).instances[0].serial
    page.goto("/groups/new")
    page.fill("#g-name", "browser")
    page.fill("#g-routine", "test/long_step")
    page.select_option("#g-backend", "adb")
    page.fill("#g-instances", serial)
    page.fill("#g-bots", "2")
    page.fill("#g-pools", "test")
    page.fill("#g-stagger", "0")
    page.click("#save")
    error = page.locator('.field-error[data-error-for="bots"]')
    error.wait_for()
    assert "exceeds the number of instances" in error.inner_text()
    assert "invalid" in (page.get_attribute("#g-bots", "class") or "")
    shots(page, "group-validation-error")

    page.fill("#g-bots", "1")
    page.click("#save")
    page.wait_for_url("**/groups/browser?msg=*")
    assert "saved browser" in page.inner_text(".flash")
    assert yaml.safe_load((fleet_home.root / "groups" / "browser.yaml").read_text())["instances"] == [serial]
    shots(page, "group-editor")

    page.click("#launch-button")
    page.wait_for_url("**/groups?msg=*")
    assert "launched browser" in page.inner_text(".flash")
    page.locator('[data-running-group="browser"]').wait_for()  # the running card, live
    link = page.locator('[data-running-group="browser"] a[data-flow-run]').first
    assert link.get_attribute("href").startswith(f"{served.config.prefect_ui_url}/runs/flow-run/")
    shots(page, "groups")

    page.goto("/instances")
    card = '[data-group-section="browser"] [data-bot="0"]'
    page.locator(f'{card}[data-state="running"]').wait_for()
    page.wait_for_function(f"document.querySelector('{card} [data-step]').textContent.startsWith('1:')")
    assert page.inner_text(f"{card} [data-account]").endswith("@emufleet.invalid")
    shots(page, "instances")

    page.evaluate("window.__noReload = 42")
    httpx.post(f"{served.url}/api/groups/browser/pause", timeout=30).raise_for_status()  # from elsewhere
    page.locator(f'{card}[data-state="paused"]').wait_for()  # arrives over SSE
    assert page.evaluate("window.__noReload") == 42
    shots(page, "instances-paused")

    page.click(f'{card} button[data-action="resume"]')
    page.locator(f'{card}[data-state="running"]').wait_for()
    page.click(f'{card} button[data-action="restart-app"]')  # confirmed; the bot's own restart_app rung
    page.wait_for_url("**/instances?msg=*")
    assert "restart-app: browser bot 0 (1 bot(s) told)" in page.inner_text(".flash")
    page.locator(f'{card} [data-recoveries="1"]').wait_for()  # recovered, live over SSE
    page.locator(f'{card}[data-state="running"]').wait_for()
    shots(page, "instances-restarted")
    page.click(f'{card} button[data-action="stop"]')
    page.locator('[data-empty="instances"]').wait_for()
    shots(page, "instances-stopped")


def test_edit_a_pool_filter_test_it_and_create_delete_a_pool(page: Any, fleet_home: FleetHome, shots: Any) -> None:
    page.goto("/pools/test")
    page.click("#refresh")
    page.wait_for_url("**/pools/test?msg=*")
    assert "6 members" in page.inner_text(".flash")
    page.locator('#matching-count[data-count="6"]').wait_for()  # tested on load

    page.fill("#p-watched", "")  # only the query now
    page.fill('input[name="p.queries[0].filters[0].value"]', "demo_01%")
    page.locator('#matching-count[data-count="1"]').wait_for()  # live, no click
    page.click('[data-add="filter-template-0"]')
    row = page.locator("#filters-0 [data-row=filter]").last
    row.locator('select[aria-label="column"]').select_option("packs_opened")
    row.locator('select[aria-label="comparator"]').select_option(">=")
    row.locator('input[aria-label="value"]').fill("lots")
    page.locator("#test-box .errors").wait_for()
    assert "not an integer" in page.inner_text("#test-box")
    assert "invalid" in (row.locator('input[aria-label="value"]').get_attribute("class") or "")  # outlined
    shots(page, "pool-filter-error")
    row.locator('input[aria-label="value"]').fill("0")
    page.locator('#matching-count[data-count="1"]').wait_for()
    page.click("#test")
    page.locator('#matching-count[data-count="1"]').wait_for()
    shots(page, "pool-detail")
    page.click("#save")
    page.wait_for_url("**/pools/test?msg=*")
    saved = yaml.safe_load((fleet_home.root / "pools" / "test.yaml").read_text())
    assert saved["queries"][0]["filters"][0]["value"] == "demo_01%"
    assert saved["queries"][0]["filters"][2] == {"column": "packs_opened", "comparator": ">=", "value": 0}
    assert "watched_paths" not in saved

    page.goto("/pools/test?tab=accounts&sort=device_account&desc=1")
    assert page.locator("#accounts-table tr[data-account]").count() == 6  # members of the last refresh
    shots(page, "pool-accounts")
    page.goto("/pools/test?tab=stats")
    shots(page, "pool-stats")

    page.goto("/pools/new")
    page.fill("#p-name", "browser-pool")
    page.click("#save")
    page.wait_for_url("**/pools/browser-pool?msg=*")
    assert (fleet_home.root / "pools" / "browser-pool.yaml").is_file()
    page.click("#delete")
    page.wait_for_url("**/pools?msg=*")
    assert page.locator('[data-pool="browser-pool"]').count() == 0
    assert not (fleet_home.root / "pools" / "browser-pool.yaml").exists()
    shots(page, "pools")


def test_routines_accounts_and_reset_pages(page: Any, fleet_home: FleetHome, shots: Any) -> None:
    page.goto("/routines")
    assert page.locator('[data-routine="test/long_step"]').count() == 1
    page.fill('#routine-check textarea[name="text"]', "steps:\n  - action: Sleep\n    duration: -1s\n")
    page.click("#validate-text")
    page.locator('[data-text-validation="failed"]').wait_for()
    assert "line 3" in page.inner_text("#routine-check .errors")
    shots(page, "routines")

    page.goto("/pools/test")
    page.click("#refresh")
    page.wait_for_url("**/pools/test?msg=*")
    page.goto("/accounts?q=demo_02")
    page.click("#accounts-table tr[data-account] a")
    page.click("#reset")
    page.wait_for_url("**/accounts/*?msg=*")
    assert "reset to available" in page.inner_text(".flash")
    shots(page, "account-detail")
    page.goto("/accounts")
    shots(page, "accounts")
