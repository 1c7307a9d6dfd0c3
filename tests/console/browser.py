"""Browser fixtures of the console suite: headless Chromium (Debian's ``chromium``) driven by Playwright.

Without Chromium or the ``playwright`` package the tests that use them skip, saying why — unless
``EMUFLEET_REQUIRE_BROWSER=1`` (CI), where they fail instead. ``shots(page, name)`` keeps a screenshot under
``var/test-output/console/`` (``EMUFLEET_TEST_OUTPUT`` overrides ``var/test-output``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fleet import REPO

__all__ = ["CHROMIUM_ARGS", "TIMEOUT_MS", "browser", "page", "shots"]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


def _chromium() -> str | None:
    return shutil.which("chromium") or (os.path.exists("/usr/bin/chromium") and "/usr/bin/chromium") or None


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if _chromium() is None:
        return "no system Chromium (apt-get install -y chromium); .ci/run installs it"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = _missing()
    if reason:
        if os.environ.get("EMUFLEET_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required (EMUFLEET_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, served: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # the confirm() of Stop and Delete
    yield tab
    context.close()


@pytest.fixture(scope="module")
def shots() -> Callable[[Any, str], None]:
    folder = Path(os.environ.get("EMUFLEET_TEST_OUTPUT") or REPO / "var" / "test-output") / "console"
    folder.mkdir(parents=True, exist_ok=True)

    def shot(tab: Any, name: str) -> None:
        tab.screenshot(path=str(folder / f"{name}.png"), full_page=True)
    return shot
