"""Simulator scenarios: the YAML that scripts a simulated device's screens (docs/architecture.md "Scenario YAML").

A scenario is a state machine of screens::

    version: 1
    name: demo
    screen: {width: 540, height: 960}
    template_set: ../../../templates/registry.yaml   # optional; relative to this file; ${ENV} expanded
    package: jp.pokemon.pokemontcgp
    initial: launcher
    on_app_start: title
    on_app_stop: launcher
    states:
      home:
        image: {base: screens/home.png, overlays: [{template: OK}, {image: p.png, at: [70, 300], space: device}]}
        requires_file: {path: /data/data/…/deviceAccount:.xml, else: login}
        taps: [{rect: [100, 400, 180, 430], to: menu}]
        after: {ms: 3000, to: popup_ok}
        keys: {KEYCODE_BACK: home}
    dialogs:                # optional: what the popup_storm and anr faults draw over any screen
      popup: {image: screens/offer.png, at: [60, 190], close: {rect: [220, 130, 245, 155]}}
      anr: {image: screens/anr.png, at: [40, 360], wait: {rect: …}, close_app: {rect: …}}

Coordinates are in the *template space* by default: the template set's :class:`~emufleet.vision.CoordinateSpace`,
or, without a template set, the default MuMu window space (277×534 with a 45-px title bar) over this screen.
``space: device`` gives device pixels instead. Template overlays are scaled to device pixels; PNG overlays are
placed as they are (device space) unless they say ``space: template``. An ``image`` (or ``base``) is a PNG path
relative to the scenario file, a ``#rrggbb`` colour, or ``state:<name>`` (that state's rendered screen).

``requires_file`` is checked each time the state is entered: when the device file is missing, the ``else`` state
is entered instead. Timers (``after``) count from entering the state; ``ms: 0`` moves on at once.

:func:`load_scenario` validates everything at load — unknown keys, unknown states, missing or undecodable images,
unknown templates, overlays off the screen, ``state:`` cycles — raising :class:`~emufleet.errors.ScenarioError`
located at ``file:line:col``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from emufleet.boundary import YamlValue
from emufleet.errors import InputError, ScenarioError, TemplateRegistryError, VisionError
from emufleet.paths import data_path
from emufleet.sim.keys import key_code
from emufleet.sim.scenario_schema import (
    ButtonModel,
    CompositionModel,
    DialogModel,
    OverlayModel,
    ScenarioModel,
    StateModel,
)
from emufleet.validation import locate, validate
from emufleet.yamlio import MarkedDict, load_yaml

if TYPE_CHECKING:  # loaded only for scenarios that name a template set
    from emufleet.vision import CoordinateSpace, Region, TemplateSet

__all__ = ["Dialog", "ImageSpec", "Overlay", "Scenario", "StateSpec", "TapRule", "load_scenario",
           "resolve_scenario_path", "scenarios_dir"]

_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


# -- the compiled scenario -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Overlay:
    """An image placed on a screen: ``image`` (h, w, 3) BGR in device pixels, ``alpha`` (h, w) float32 0–1."""

    label: str
    x: int
    y: int
    image: np.ndarray = field(repr=False)
    alpha: np.ndarray | None = field(repr=False)


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """A screen: a base (``png`` (H, W, 3) BGR array, ``colour`` BGR tuple or ``state`` name) plus overlays."""

    kind: Literal["png", "colour", "state"]
    value: YamlValue
    overlays: tuple[Overlay, ...] = ()


@dataclass(frozen=True, slots=True)
class TapRule:
    """A tap inside ``rect`` (device px, half-open) → state ``to``."""

    rect: Region
    to: str

    def contains(self, x: float, y: float) -> bool:
        return self.rect.contains(x, y)


@dataclass(frozen=True, slots=True)
class StateSpec:
    """One compiled state: its screen, taps (device px, first match wins), timer, keys (code → state)."""

    name: str
    image: ImageSpec
    taps: tuple[TapRule, ...] = ()
    after: tuple[int, str] | None = None  # (ms, to)
    keys: dict[int, str] = field(default_factory=dict)
    requires_file: tuple[str, str] | None = None  # (device path, else state)


@dataclass(frozen=True, slots=True)
class Dialog:
    """A fault dialog (``popup``, ``anr``): its overlay and its buttons (device-px rules whose ``to`` is the button
    name: ``close``; ``wait``, ``close_app``)."""

    name: str
    overlay: Overlay
    buttons: tuple[TapRule, ...]

    def button_at(self, x: float, y: float) -> str | None:
        """The button under device pixel ``(x, y)``, or None."""
        return next((b.to for b in self.buttons if b.contains(x, y)), None)


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario (immutable; shared by every instance of a simulator)."""

    name: str
    path: Path
    width: int
    height: int
    package: str
    activity: str
    initial: str
    on_app_start: str | None
    on_app_stop: str
    states: dict[str, StateSpec]
    dialogs: dict[str, Dialog] = field(default_factory=dict)
    package_version: str = "1.0.0"  # what `dumpsys package` says the game's versionName is


def scenarios_dir() -> Path:
    """The folder of the shipped scenarios (``emufleet/sim/scenarios``)."""
    return Path(__file__).resolve().parent / "scenarios"


def resolve_scenario_path(name_or_path: str | Path) -> Path:
    """A scenario name (``demo`` → ``emufleet/sim/scenarios/demo/scenario.yaml``), a folder or a YAML path."""
    text = str(name_or_path)
    path = Path(text)
    if path.suffix in (".yaml", ".yml") or os.sep in text or "/" in text or path.is_dir():
        return path / "scenario.yaml" if path.is_dir() else path
    candidate = scenarios_dir() / text / "scenario.yaml"
    if not candidate.is_file():
        known = sorted(p.name for p in scenarios_dir().iterdir() if (p / "scenario.yaml").is_file()) \
            if scenarios_dir().is_dir() else []
        raise ScenarioError(f"unknown scenario {text!r} (shipped: {', '.join(known) or 'none'}; or give a path)")
    return candidate


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario by name or path; raises a located :class:`ScenarioError`."""
    path = resolve_scenario_path(name_or_path).resolve()
    data = load_yaml(path, error=ScenarioError)
    model = validate(ScenarioModel, data, path, error=ScenarioError)
    return _Compiler(path, data, model).compile()


def locate_node(data: YamlValue, loc: tuple[int | str, ...]) -> YamlValue:
    """The node at ``loc`` inside marked data, or ``None``."""
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


class _Compiler:
    space: CoordinateSpace  # the scenario's coordinate space, set by _load_template_set (first thing compiled)

    def __init__(self, path: Path, data: YamlValue, model: ScenarioModel) -> None:
        self.path = path
        self.data = data
        self.model = model
        self.width, self.height = model.screen.width, model.screen.height
        self._images: dict[Path, np.ndarray] = {}
        self.templates: TemplateSet | None = None

    def fail(self, message: str, *loc: int | str, at_key: bool = False) -> ScenarioError:
        pos = locate(self.data, loc)
        if at_key:  # point at the mapping key itself (an unknown key name), not its value
            parent = locate_node(self.data, loc[:-1])
            pos = parent.key_pos.get(loc[-1], pos) if isinstance(parent, MarkedDict) else pos
        line, col = pos if pos else (None, None)
        name = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))
        return ScenarioError(message, file=self.path, line=line, col=col, field=name or None)

    def compile(self) -> Scenario:
        m = self.model
        self._load_template_set()
        for loc, target in self._references():
            if target not in m.states:
                raise self.fail(f"unknown state {target!r}", *loc)
        states = {name: self._state(name, st) for name, st in m.states.items()}
        self._check_state_cycles(states)
        dialogs = {name: self._dialog(name, d) for name in ("popup", "anr")
                   if (d := getattr(m.dialogs, name)) is not None}
        return Scenario(name=m.name, path=self.path, width=self.width, height=self.height, package=m.package,
                        package_version=m.package_version,
                        activity=m.activity, initial=m.initial, on_app_start=m.on_app_start,
                        on_app_stop=m.on_app_stop or m.initial, states=states, dialogs=dialogs)

    def _references(self) -> list[tuple[tuple[int | str, ...], str]]:
        m = self.model
        refs: list[tuple[tuple[int | str, ...], str]] = [(("initial",), m.initial)]
        refs += [((key,), value) for key in ("on_app_start", "on_app_stop")
                 if (value := getattr(m, key)) is not None]
        for name, st in m.states.items():
            base = st.image if isinstance(st.image, str) else st.image.base
            if base.startswith("state:"):
                loc: tuple[int | str, ...] = ("states", name, "image") if isinstance(st.image, str) \
                    else ("states", name, "image", "base")
                refs.append((loc, base.removeprefix("state:")))
            refs += [(("states", name, "taps", i, "to"), tap.to) for i, tap in enumerate(st.taps)]
            if st.after:
                refs.append((("states", name, "after", "to"), st.after.to))
            refs += [(("states", name, "keys", key), to) for key, to in st.keys.items()]
            if st.requires_file:
                refs.append((("states", name, "requires_file", "else"), st.requires_file.else_))
        return refs

    # -- template set ------------------------------------------------------------------------------------------
    def _load_template_set(self) -> None:
        from emufleet.vision import CoordinateSpace

        if self.model.template_set is None:
            self.space = CoordinateSpace(device_width=self.width, device_height=self.height)
            return
        from emufleet.vision import load_templates

        raw = self.model.template_set
        expanded = os.path.expandvars(raw)
        if "$" in expanded:
            raise self.fail(f"unset environment variable in {raw!r}", "template_set")
        try:
            ts_path = data_path(expanded, self.path.parent).resolve()
        except InputError as exc:
            raise self.fail(str(exc), "template_set") from exc
        if not ts_path.exists():
            raise self.fail(f"template set {ts_path} not found", "template_set")
        try:
            self.templates = load_templates(ts_path)
        except TemplateRegistryError as exc:
            raise self.fail(f"template set: {exc}", "template_set") from exc
        self.space = self.templates.space
        if (self.space.device_width, self.space.device_height) != (self.width, self.height):
            raise self.fail(f"the template set maps onto {self.space.device_width}×{self.space.device_height} "
                            f"devices, but the screen is {self.width}×{self.height}", "template_set")

    # -- states ------------------------------------------------------------------------------------------------
    def _state(self, name: str, st: StateModel) -> StateSpec:
        keys: dict[int, str] = {}
        for key, to in st.keys.items():
            code = key_code(key)
            if code is None:
                raise self.fail(f"unknown key {key!r} (use KEYCODE_… names or numbers)", "states", name, "keys", key,
                                at_key=True)
            keys[code] = to
        taps = tuple(self._tap(tap, tap.to) for tap in st.taps)
        return StateSpec(
            name=name, image=self._image(name, st.image), taps=taps,
            after=(st.after.ms, st.after.to) if st.after else None, keys=keys,
            requires_file=(st.requires_file.path, st.requires_file.else_) if st.requires_file else None,
        )

    def _tap(self, tap: ButtonModel, to: str) -> TapRule:
        return TapRule(tap.rect if tap.space == "device" else self.space.region_to_device(tap.rect), to)

    def _dialog(self, name: str, d: DialogModel) -> Dialog:
        overlay = self._overlay(OverlayModel(image=d.image, at=d.at, space=d.space), ("dialogs", name))
        buttons = tuple(self._tap(getattr(d, key), key) for key in ("close", "wait", "close_app") if hasattr(d, key))
        return Dialog(name, overlay, buttons)

    def _image(self, state: str, image: str | CompositionModel) -> ImageSpec:
        loc: tuple[int | str, ...] = ("states", state, "image")
        if isinstance(image, str):
            return self._base(image, loc)
        base = self._base(image.base, (*loc, "base"))
        overlays = tuple(self._overlay(ov, (*loc, "overlays", i)) for i, ov in enumerate(image.overlays))
        return ImageSpec(base.kind, base.value, overlays)

    def _base(self, text: str, loc: tuple[int | str, ...]) -> ImageSpec:
        if text.startswith("state:"):
            return ImageSpec("state", text.removeprefix("state:"))
        if text.startswith("#"):
            if not _COLOUR.match(text):
                raise self.fail(f"bad colour {text!r}: use #rrggbb", *loc)
            r, g, b = (int(text[i:i + 2], 16) for i in (1, 3, 5))
            return ImageSpec("colour", (b, g, r))
        image, _ = self._read_png(text, loc)
        if image.shape[:2] != (self.height, self.width):
            raise self.fail(f"{text} is {image.shape[1]}×{image.shape[0]}, the screen is "
                            f"{self.width}×{self.height}", *loc)
        return ImageSpec("png", image)

    def _overlay(self, ov: OverlayModel, loc: tuple[int | str, ...]) -> Overlay:
        if ov.template is not None:
            if self.templates is None:
                raise self.fail("a template overlay needs the scenario's 'template_set'", *loc, "template")
            if ov.template not in self.templates:
                raise self.fail(f"unknown template {ov.template!r} in the template set", *loc, "template")
            tpl = self.templates.get(ov.template)
            image, alpha = tpl.image, None if tpl.mask is None else (tpl.mask > 0).astype(np.float32)
            space = ov.space or "template"
            at = ov.at
            if at is None:
                if tpl.region is None:
                    raise self.fail(f"template {ov.template!r} has no region: give 'at'", *loc, "template")
                at = (tpl.region.x1, tpl.region.y1)
                space = "template"
            label = f"template {ov.template}"
        else:
            assert ov.image is not None
            image, alpha = self._read_png(ov.image, (*loc, "image"))
            space, at, label = ov.space or "device", ov.at or (0, 0), ov.image
        if space == "template":
            image = self.space.image_to_device(image)
            if alpha is not None:
                alpha = self.space.image_to_device(alpha)
            fx, fy = self.space.to_device(*at)
            x, y = round(fx), round(fy)
        else:
            x, y = at
        h, w = image.shape[:2]
        if x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise self.fail(f"{label} ({w}×{h} device px at {x},{y}) does not fit on the "
                            f"{self.width}×{self.height} screen", *loc)
        return Overlay(label, x, y, image, alpha)

    def _read_png(self, relative: str, loc: tuple[int | str, ...]) -> tuple[np.ndarray, np.ndarray | None]:
        """BGR image and alpha (float32 0–1, ``None`` if opaque) of a PNG relative to the scenario file."""
        try:
            path = data_path(relative, self.path.parent).resolve()
        except InputError as exc:
            raise self.fail(str(exc), *loc) from exc
        if path not in self._images:
            if not path.is_file():
                raise self.fail(f"image file {relative} not found ({path})", *loc)
            from emufleet.vision.images import read_image

            try:
                raw = read_image(path)
            except VisionError as exc:
                raise self.fail(f"image file {relative} is not a decodable image: {exc}", *loc) from exc
            self._images[path] = raw
        raw = self._images[path]
        if raw.ndim == 2:
            return cv2.cvtColor(raw, cv2.COLOR_GRAY2BGR), None
        if raw.shape[2] == 4:
            alpha = raw[:, :, 3].astype(np.float32) / 255.0
            return np.ascontiguousarray(raw[:, :, :3]), None if bool((alpha >= 1.0).all()) else alpha
        return raw, None

    def _check_state_cycles(self, states: dict[str, StateSpec]) -> None:
        for start in states:
            seen = [start]
            spec = states[start].image
            while spec.kind == "state":
                if spec.value in seen:
                    raise self.fail(f"image 'state:' references form a cycle: {' → '.join([*seen, spec.value])}",
                                    "states", start, "image")
                seen.append(spec.value)
                spec = states[spec.value].image
