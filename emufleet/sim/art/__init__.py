"""The demo game's art, drawn by the project: screens, popups, template set and the ``demo`` scenario.

*Prism Deck* is an invented card game (spec and layout: ``docs/demo-game.md``). Everything is original and
reproducible: ``python -m emufleet.sim.art [--root DIR]`` regenerates, byte for byte,

* ``emufleet/sim/scenarios/demo/screens/*.png``: device screens (540×960 BGR), popup panels (overlays) and the
  fault dialogs (``dialog_popup``, ``dialog_anr``: drawn over any screen by the ``popup_storm``/``anr`` faults);
* ``emufleet/sim/scenarios/demo/scenario.yaml``: the scenario (format: docs/architecture.md, "Scenario YAML");
* ``templates/images/*.png`` and ``templates/registry.yaml``: the demo template set.

Templates live at the MuMu *window* scale, like real users' sets (digest §4.3): a device screen is resized to the
277×489 board with ``cv2.INTER_AREA`` under a 45-px title bar (:func:`window_image`); each template is a crop of
that 277×534 image, its registry region the crop enlarged by :data:`REGION_MARGIN` px. Scenario taps are window-px
rects inside the drawn buttons.

Usage::

    from emufleet.sim.art import render_states, window_image
    states = render_states()                      # state name → Canvas(image: 960×540×3 BGR, marks: name → Region)
    window = window_image(states["home"].image)   # 534×277×3, the image the templates were cut from

Determinism: no clocks, no numpy RNG; PNGs from ``cv2.imencode`` (no timestamps). The generator needs OpenCV ≥ 5
(its font engine draws the text); the bytes depend on OpenCV's rasteriser and bundled zlib: if an OpenCV upgrade
changes them, regenerate and commit (the test says whether pixels or only PNG bytes differ).
"""

from ._build import (
    BOARD,
    DIALOG_BASES,
    REGION_MARGIN,
    SCENARIO_DIR,
    SPACE,
    STATES,
    TEMPLATE_DIR,
    TEMPLATES,
    TITLE_BAR,
    WINDOW_SIZE,
    StateSpec,
    build,
    render_dialog_screens,
    render_states,
    tap_rect,
    template_crops,
    window_image,
    window_rect,
    write,
)
from ._dialogs import DIALOG_AT, DIALOG_BUTTONS, DIALOGS
from ._draw import DEVICE_SIZE, Canvas

__all__ = ["BOARD", "DEVICE_SIZE", "DIALOGS", "DIALOG_AT", "DIALOG_BASES", "DIALOG_BUTTONS", "REGION_MARGIN",
           "SCENARIO_DIR", "SPACE", "STATES", "TEMPLATES", "TEMPLATE_DIR", "TITLE_BAR", "WINDOW_SIZE", "Canvas",
           "StateSpec", "build", "render_dialog_screens", "render_states", "tap_rect", "template_crops",
           "window_image", "window_rect", "write"]
