"""The live wall in headless Chromium (the suite's Playwright fixtures, tests/console/browser.py): an idle simulated
instance's screen appears on the Instances page and changes with the device; the full view shows the pointer's
coordinates; a hidden page asks for nothing until it is visible again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

CHECKSUM = """(sel) => {
  const img = document.querySelector(sel);
  if (!img || !img.complete || !img.naturalWidth) return null;
  const c = document.createElement("canvas");
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext("2d"); ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let sum = 0; for (let i = 0; i < d.length; i += 97) sum += d[i];
  return sum;
}"""


def test_the_wall_shows_an_idle_instance_live_and_stops_when_hidden(page: Any, served: Any, shots: Any,
                                                                     simulator: Callable[..., Any]) -> None:
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("launcher")
    page.goto("/instances")
    tile = f'[data-screen$="/{inst.serial}"]'
    page.locator(f'{tile}[data-source="idle"] img').wait_for()
    page.wait_for_function(f"({CHECKSUM})('{tile} img') !== null")
    before = page.evaluate(f"({CHECKSUM})('{tile} img')")
    shots(page, "wall")
    inst.set_state("title")  # the device changes: so does its tile, with no reload
    page.wait_for_function(f"(v) => {{ const s = ({CHECKSUM})('{tile} img'); return s !== null && s !== v; }}",
                           arg=before)

    page.click(tile)
    page.locator("#wall-full[open]").wait_for()
    page.wait_for_function("document.getElementById('wall-full-img').naturalWidth > 0")
    box = page.locator("#wall-full-img").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    coords = page.locator("[data-coords]")
    page.wait_for_function("document.querySelector('[data-coords]').textContent.startsWith('device (')")
    x, y = (int(v) for v in coords.get_attribute("data-device").split(","))
    assert abs(x - 270) <= 3 and abs(y - 480) <= 3, (x, y)
    assert "template (138." in coords.inner_text() or "template (139." in coords.inner_text(), coords.inner_text()
    shots(page, "wall-full")
    page.click("#wall-full [data-close]")

    page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {value: 'hidden', configurable: true});
                             document.dispatchEvent(new Event('visibilitychange')); }""")
    asked = page.evaluate("window.__wallRequests")
    page.wait_for_timeout(2500)  # an absence can only be observed over time: 2.5 poll periods
    assert page.evaluate("window.__wallRequests") <= asked + 1, "a hidden page does not ask"  # one in flight
    page.evaluate("""() => { Object.defineProperty(document, 'visibilityState', {value: 'visible', configurable: true});
                             document.dispatchEvent(new Event('visibilitychange')); }""")
    page.wait_for_function(f"window.__wallRequests > {asked + 1}")
