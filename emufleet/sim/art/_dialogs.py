"""The fault dialogs of *Prism Deck*: the popup-storm offer and the "isn't responding" (ANR) dialog.

The simulator draws them over whatever screen is shown when the ``popup_storm`` and ``anr`` faults are active
(:mod:`emufleet.sim.faults`), so each is an opaque panel placed at one device position (:data:`DIALOG_AT`), with
its template-bearing elements marked like the screens' (``Canvas.marks``): the offer's close button ``Close``, the
ANR dialog's title ``NotResponding`` and its two buttons ``CloseApp`` and ``Wait``. The offer's ``BUY`` button is
deliberately unmarked: a recovery routine must not press it.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from emufleet.vision.space import Region

from ._draw import GOLD, INK, SHADOW, WHITE, Canvas, button, card_shape, rrect, star, text

__all__ = ["DIALOGS", "DIALOG_AT", "DIALOG_BUTTONS"]

OFFER_SIZE = (420, 470)
ANR_SIZE = (460, 250)
DIALOG_AT: dict[str, tuple[int, int]] = {"popup": (60, 236), "anr": (40, 390)}   # device px of each top-left
# the marked buttons of each dialog, by the name the scenario's ``dialogs:`` section gives them
DIALOG_BUTTONS: dict[str, dict[str, str]] = {"popup": {"close": "Close"},
                                             "anr": {"wait": "Wait", "close_app": "CloseApp"}}
APP_NAME = "Prism Deck"


def _offer() -> Canvas:
    """The offer the game keeps pushing: a gold-framed panel, a bundle of packs, a price, a red close button."""
    w, h = OFFER_SIZE
    c = Canvas(np.zeros((h, w, 3), np.uint8))
    img = c.image
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), SHADOW, -1)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), GOLD, -1)
    cv2.rectangle(img, (9, 9), (w - 10, h - 10), (110, 40, 90), -1)
    rrect(img, Region(24, 24, w - 84, 86), 16, (40, 200, 250))
    text(img, "SPECIAL OFFER!", (w - 60) // 2, 55, 26, (80, 20, 60), 1000, shadow=None)
    for dx, angle, fill in ((-70, -14, (200, 120, 60)), (70, 14, (80, 80, 200)), (0, 0, (60, 150, 70))):
        card_shape(img, w // 2 + dx, 210, 110, 160, angle, fill, GOLD)
        star(img, w // 2 + dx, 210, 26, WHITE)
    text(img, "Aurora bundle x10", w // 2, 320, 22, WHITE)
    text(img, "- 50 % today only", w // 2, 356, 18, (120, 230, 255), shadow=None)
    rrect(img, Region(w // 2 - 83, 392, w // 2 + 83, 442), 16, (60, 170, 250), border=SHADOW, bw=3)
    text(img, "BUY  4.99", w // 2, 417, 20, INK, 1000, shadow=None)
    close = Region(w - 72, 16, w - 16, 72)   # a red round button in the panel's top-right corner
    cv2.circle(img, close.center, 27, SHADOW, -1, cv2.LINE_AA)
    cv2.circle(img, close.center, 24, (40, 40, 210), -1, cv2.LINE_AA)
    cx, cy = close.center
    for sx in (-1, 1):
        cv2.line(img, (cx - 10, cy - 10 * sx), (cx + 10, cy + 10 * sx), WHITE, 5, cv2.LINE_AA)
    c.mark("Close", close)
    return c


def _anr() -> Canvas:
    """The system's "<app> isn't responding" dialog, drawn in the game's panel style, with CLOSE APP and WAIT."""
    w, h = ANR_SIZE
    c = Canvas(np.zeros((h, w, 3), np.uint8))
    img = c.image
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), SHADOW, -1)   # a system dialog: the dark theme, not the game's
    rrect(img, Region(3, 3, w - 3, h - 3), 18, (110, 100, 95))
    rrect(img, Region(6, 6, w - 6, h - 6), 15, (52, 46, 44))
    cv2.circle(img, (48, 58), 22, (150, 40, 160), -1, cv2.LINE_AA)   # the app's icon, small
    star(img, 48, 58, 12, GOLD)
    box = text(img, f"{APP_NAME} isn't responding", 84, 58, 21, WHITE, 1000, align="left", shadow=None)
    c.mark("NotResponding", box.expand(5))
    text(img, "Do you want to close it?", 84, 104, 16, (200, 195, 190), align="left", shadow=None)
    button(c, "CloseApp", Region(40, 160, 210, 216), "CLOSE APP", (60, 60, 200), 19)
    button(c, "Wait", Region(250, 160, 420, 216), "WAIT", (190, 120, 40), 19)
    return c


DIALOGS: dict[str, Callable[[], Canvas]] = {"popup": _offer, "anr": _anr}
