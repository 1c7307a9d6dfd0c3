"""Stand-ins for the routine tests: a template set of generated images and a ``DeviceLike`` screen over it.

The stand-in sits at the device interface (allowed by the project rules); screens are composed with OpenCV from
the template images at template-space positions mapped by ``CoordinateSpace`` — vision runs for real.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from emufleet.device.interface import ShellResult
from emufleet.routines import BotContext, Controller, RoutineRegistry, StepEvent
from emufleet.vision import CoordinateSpace, TemplateSet
from tests.db.fixtures import db_engine, db_url, make_accounts  # noqa: F401 - pytest fixtures (account cycle e2e)

#: name → (top-left x, y in template space); every template is 24×14 template px.
PLACES = {"OK": (126, 380), "Error": (40, 100), "Main": (20, 60), "Menu": (200, 480), "Pack": (120, 250)}
TPL_SIZE = (24, 14)


def _pattern(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 2, size=(TPL_SIZE[1] // 2, TPL_SIZE[0] // 4, 3), dtype=np.uint8) * 220 + 20
    return cv2.resize(cells, TPL_SIZE, interpolation=cv2.INTER_NEAREST)


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("templates")
    (root / "images").mkdir()
    lines = ["version: 1", "images: images", "templates:"]
    for i, (name, (x, y)) in enumerate(PLACES.items()):
        cv2.imwrite(str(root / "images" / f"{name}.png"), _pattern(i + 1))
        lines.append(f"  - {{name: {name}, path: {name}.png, region: {{x1: {x - 8}, y1: {y - 8}, "
                     f"x2: {x + TPL_SIZE[0] + 8}, y2: {y + TPL_SIZE[1] + 8}}}}}")
    (root / "registry.yaml").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def templates(template_dir: Path) -> TemplateSet:
    return TemplateSet.load(template_dir / "registry.yaml")


class ScreenDevice:
    """A ``DeviceLike`` whose screen shows a set of templates; taps are recorded and may change the screen.

    ``on_tap(device, x, y)`` (device px) lets a test script transitions. ``screenshot_delay_s`` simulates a slow
    capture.
    """

    def __init__(self, templates: TemplateSet, visible: set[str] | None = None) -> None:
        self.serial = "stand-in"
        self.templates = templates
        self.space: CoordinateSpace = templates.space
        self.visible: set[str] = set(visible or ())
        self.taps: list[tuple[int, int]] = []
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.on_tap: Callable[[ScreenDevice, int, int], None] | None = None
        self.screenshots = 0
        self.lock = threading.Lock()

    def screenshot(self) -> np.ndarray:
        frame = np.full((self.space.device_height, self.space.device_width, 3), 90, np.uint8)
        with self.lock:
            self.screenshots += 1
            names = sorted(self.visible)
        for name in names:
            x, y = PLACES[name]
            image = self.space.image_to_device(self.templates.get(name).image)
            dx, dy = self.space.device_point(x, y)
            h, w = image.shape[:2]
            frame[dy: dy + h, dx: dx + w] = image
        return frame

    def device_center(self, name: str) -> tuple[int, int]:
        x, y = PLACES[name]
        return self.space.device_point(x + TPL_SIZE[0] / 2, y + TPL_SIZE[1] / 2)

    def tap(self, x: int, y: int) -> None:
        with self.lock:
            self.taps.append((x, y))
        if self.on_tap:
            self.on_tap(self, x, y)

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        self.calls.append(("swipe", (x1, y1, x2, y2, duration_ms)))

    def key_event(self, key: str | int) -> None:
        self.calls.append(("key_event", (key,)))

    def input_text(self, text: str) -> None:
        self.calls.append(("input_text", (text,)))

    def app_start(self, package: str, activity: str | None = None) -> None:
        self.calls.append(("app_start", (package, activity)))

    def app_stop(self, package: str) -> None:
        self.calls.append(("app_stop", (package,)))

    def shell(self, command: str, *, timeout_s: float | None = None, check: bool = False) -> ShellResult:
        self.calls.append(("shell", (command,)))
        return ShellResult("", 0)

    def getprop(self, name: str, *, timeout_s: float | None = None) -> str:
        return "1" if name == "sys.boot_completed" else ""

    def foreground_app(self) -> str | None:
        return None

    def su(self, command: str, *, timeout_s: float | None = None, check: bool = True) -> ShellResult:
        return self.shell(command)

    def push(self, data: bytes, remote_path: str) -> None:
        self.calls.append(("push", (remote_path,)))

    def pull(self, remote_path: str) -> bytes:
        return b""


class Bot:
    """A routines folder in ``tmp_path``, a stand-in device, and a context over them."""

    def __init__(self, root: Path, templates: TemplateSet) -> None:
        self.root = root
        self.templates = templates
        self.device = ScreenDevice(templates)
        self.events: list[StepEvent] = []
        self.controller = Controller()

    def write(self, key: str, text: str) -> Path:
        path = self.root / f"{key}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def registry(self) -> RoutineRegistry:
        return RoutineRegistry.load(self.root, self.templates)

    def context(self, **kwargs: Any) -> BotContext:
        return BotContext(self.device, self.templates, self.registry(), self.controller, kwargs.pop("variables", {}),
                          on_event=self.events.append, bot_id="bot-1", **kwargs)


@pytest.fixture
def bot(tmp_path: Path, templates: TemplateSet) -> Iterator[Bot]:
    b = Bot(tmp_path / "routines", templates)
    yield b
    b.controller.stop()
