"""The screens and popup panels of *Prism Deck*, the demo game (spec: ``docs/demo-game.md``).

Each builder returns a :class:`~emufleet.sim.art._draw.Canvas`: the image in device pixels and the rect of every
template-bearing element drawn on it (``Canvas.marks``), so that templates, registry regions and tap rects are
derived from where things are drawn, never typed twice. Screens are 540×960; popup panels are
:data:`POPUP_SIZE` overlays placed at :data:`POPUP_AT` (device px) over the screen of another state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from emufleet.vision.space import Region

from ._draw import (
    BGR,
    DEVICE_SIZE,
    GOLD,
    GOLD_EDGE,
    INK,
    PANEL,
    PANEL_EDGE,
    REGULAR,
    SHADOW,
    WHITE,
    Canvas,
    button,
    card_shape,
    gradient,
    poly,
    rrect,
    star,
    stars,
    text,
)

__all__ = ["POPUPS", "POPUP_AT", "POPUP_SIZE", "SCREENS", "compose"]


def _game_background(seed: int, top: BGR = (70, 30, 25), bottom: BGR = (120, 45, 75)) -> Canvas:
    """The in-game night sky: a vertical gradient with 40 stars placed from ``seed``."""
    c = Canvas(gradient(DEVICE_SIZE, top, bottom))
    stars(c.image, seed, 40, Region(0, 0, *DEVICE_SIZE))
    return c


def _top_bar(img: np.ndarray) -> None:
    """The dark bar across the top of in-game screens (its lower edge is 92 px down)."""
    rrect(img, Region(-20, -20, 560, 92), 20, (55, 35, 30), border=(150, 110, 80), bw=3)


def _header(c: Canvas, title: str) -> None:
    """The header of a sub-screen: top bar, screen title centred, ``Back`` button on the left."""
    _top_bar(c.image)
    text(c.image, title, 300, 46, 27)
    button(c, "Back", Region(16, 22, 132, 70), "BACK", (150, 95, 60), 19)


Glyph = Callable[[np.ndarray, int, int], None]


def _g_calendar(im: np.ndarray, x: int, y: int) -> None:
    rrect(im, Region(x - 26, y - 26, x + 26, y + 28), 6, WHITE)
    cv2.rectangle(im, (x - 26, y - 26), (x + 25, y - 12), (50, 50, 200), -1)
    text(im, "1", x, y + 9, 24, INK, shadow=None)


def _g_clock(im: np.ndarray, x: int, y: int) -> None:
    cv2.circle(im, (x, y), 22, WHITE, 4, cv2.LINE_AA)
    cv2.line(im, (x, y), (x, y - 14), WHITE, 3, cv2.LINE_AA)
    cv2.line(im, (x, y), (x + 11, y + 4), WHITE, 3, cv2.LINE_AA)


def _g_music(im: np.ndarray, x: int, y: int) -> None:
    cv2.circle(im, (x - 8, y + 16), 10, WHITE, -1, cv2.LINE_AA)
    cv2.line(im, (x + 1, y + 16), (x + 1, y - 24), WHITE, 4, cv2.LINE_AA)
    poly(im, [(x + 1, y - 24), (x + 20, y - 14), (x + 20, y - 6), (x + 1, y - 16)], WHITE)


def _g_photos(im: np.ndarray, x: int, y: int) -> None:
    for (dx, dy), col in zip(((0, -13), (13, 0), (0, 13), (-13, 0)),
                             ((60, 200, 250), (90, 180, 80), (220, 130, 40), (60, 60, 220)), strict=True):
        cv2.circle(im, (x + dx, y + dy), 12, col, -1, cv2.LINE_AA)


def _g_maps(im: np.ndarray, x: int, y: int) -> None:
    poly(im, [(x - 17, y - 6), (x + 17, y - 6), (x, y + 28)], (60, 60, 220))
    cv2.circle(im, (x, y - 10), 18, (60, 60, 220), -1, cv2.LINE_AA)
    cv2.circle(im, (x, y - 10), 7, WHITE, -1, cv2.LINE_AA)


def _g_notes(im: np.ndarray, x: int, y: int) -> None:
    for i in range(3):
        cv2.rectangle(im, (x - 20, y - 16 + 13 * i), (x + 20, y - 10 + 13 * i), INK, -1)


def _g_store(im: np.ndarray, x: int, y: int) -> None:
    cv2.ellipse(im, (x, y - 12), (11, 12), 0, 180, 360, WHITE, 4, cv2.LINE_AA)
    rrect(im, Region(x - 22, y - 12, x + 22, y + 24), 5, WHITE)


def _g_phone(im: np.ndarray, x: int, y: int) -> None:
    cv2.ellipse(im, (x + 6, y - 6), (22, 22), 0, 80, 190, WHITE, 11, cv2.LINE_AA)


def _g_messages(im: np.ndarray, x: int, y: int) -> None:
    cv2.ellipse(im, (x, y - 3), (24, 18), 0, 0, 360, WHITE, -1, cv2.LINE_AA)
    poly(im, [(x - 14, y + 8), (x - 20, y + 24), (x - 2, y + 12)], WHITE)


def _g_browser(im: np.ndarray, x: int, y: int) -> None:
    cv2.circle(im, (x, y), 23, WHITE, 3, cv2.LINE_AA)
    cv2.ellipse(im, (x, y), (10, 23), 0, 0, 360, WHITE, 3, cv2.LINE_AA)
    cv2.line(im, (x - 23, y), (x + 23, y), WHITE, 3, cv2.LINE_AA)


def _g_camera(im: np.ndarray, x: int, y: int) -> None:
    rrect(im, Region(x - 26, y - 16, x + 26, y + 20), 8, (230, 230, 230))
    cv2.rectangle(im, (x - 10, y - 22), (x + 10, y - 15), (230, 230, 230), -1)
    cv2.circle(im, (x, y + 2), 12, (40, 40, 40), -1, cv2.LINE_AA)


_GRID: tuple[tuple[BGR, Glyph, str] | None, ...] = (
    ((235, 235, 235), _g_calendar, "Calendar"), ((70, 70, 70), _g_clock, "Clock"),
    ((150, 60, 230), _g_music, "Music"), ((230, 200, 120), _g_photos, "Photos"),
    ((120, 200, 120), _g_maps, "Maps"), ((120, 230, 250), _g_notes, "Notes"),
    None, ((220, 130, 40), _g_store, "Store"))   # None: the game's own icon
_DOCK: tuple[tuple[BGR, Glyph], ...] = (((80, 170, 60), _g_phone), ((220, 150, 50), _g_messages),
                                        ((40, 120, 240), _g_browser), ((90, 90, 90), _g_camera))


def _launcher() -> Canvas:
    """An Android-like home screen: status bar, clock widget, search bar, icon grid with the game, dock."""
    c = Canvas(gradient(DEVICE_SIZE, (110, 80, 20), (140, 40, 100)))
    img = c.image
    for x, y, rad, col in ((90, 300, 160, (125, 90, 40)), (470, 700, 220, (150, 60, 110)),
                           (300, 960, 180, (160, 70, 120))):
        cv2.circle(img, (x, y), rad, col, -1, cv2.LINE_AA)
    cv2.rectangle(img, (0, 0), (539, 27), (60, 40, 20), -1)
    text(img, "12:00", 14, 14, 14, weight=REGULAR, align="left", shadow=None)
    rrect(img, Region(498, 8, 526, 21), 3, WHITE)
    text(img, "12:00", 270, 130, 65, weight=REGULAR)
    text(img, "Monday, June 1", 270, 190, 19, weight=REGULAR)
    rrect(img, Region(40, 240, 500, 296), 28, (245, 240, 235))
    text(img, "Search", 80, 268, 19, INK, REGULAR, "left", None)
    cv2.circle(img, (468, 266), 10, (150, 120, 110), 2, cv2.LINE_AA)
    for i, icon in enumerate(_GRID):
        r = Region(34 + 128 * (i % 4), 380 + 150 * (i // 4), 122 + 128 * (i % 4), 468 + 150 * (i // 4))
        if icon is None:
            _app_icon(c, r)
            label = "Prism Deck"
        else:
            fill, glyph, label = icon
            rrect(img, r, 22, fill)
            glyph(img, *r.center)
        text(img, label, r.center[0], r.y2 + 18, 14, weight=REGULAR)
    rrect(img, Region(20, 820, 520, 930), 30, (120, 70, 70))
    for i, (fill, glyph) in enumerate(_DOCK):
        r = Region(50 + 122 * i, 836, 128 + 122 * i, 914)
        rrect(img, r, 20, fill)
        glyph(img, *r.center)
    return c


def _app_icon(c: Canvas, r: Region) -> None:
    """The game's launcher icon: a gold-framed card with a star on a magenta tile."""
    img = c.image
    rrect(img, r, 22, (150, 40, 160))
    cv2.circle(img, r.center, 36, (190, 90, 205), -1, cv2.LINE_AA)
    card_shape(img, r.center[0], r.center[1], 44, 62, -12, (200, 90, 60), GOLD)
    star(img, r.center[0], r.center[1], 15, GOLD)
    c.mark("AppIcon", r)


def _splash() -> Canvas:
    """The studio logo (a fox in a hexagon), shown while the game loads."""
    c = Canvas(gradient(DEVICE_SIZE, (24, 18, 16), (40, 26, 22)))
    img, emblem = c.image, Region(206, 340, 334, 468)
    cx, cy = emblem.center
    hexagon = [(cx + 60 * math.cos(math.radians(60 * i + 30)), cy + 60 * math.sin(math.radians(60 * i + 30)))
               for i in range(6)]
    poly(img, hexagon, (40, 150, 240))
    poly(img, [((x - cx) * 0.8 + cx, (y - cy) * 0.8 + cy) for x, y in hexagon], (30, 24, 20))
    poly(img, [(cx - 30, cy + 28), (cx - 30, cy - 34), (cx - 8, cy - 8), (cx + 8, cy - 8), (cx + 30, cy - 34),
                (cx + 30, cy + 28), (cx, cy + 40)], (40, 150, 240))
    cv2.circle(img, (cx - 12, cy + 6), 5, (30, 24, 20), -1, cv2.LINE_AA)
    cv2.circle(img, (cx + 12, cy + 6), 5, (30, 24, 20), -1, cv2.LINE_AA)
    c.mark("Splash", emblem)
    text(img, "NOVAFOX", 270, 520, 32, (230, 230, 230), REGULAR, shadow=None)
    text(img, "GAMES", 270, 560, 19, (40, 150, 240), REGULAR, shadow=None)
    return c


def _title() -> Canvas:
    """The title: logo banner over three fanned cards, and the 'TAP TO START' pill."""
    c = _game_background(3, (90, 30, 40), (150, 40, 140))
    img = c.image
    for angle, dx, fill in ((-18, -120, (180, 90, 50)), (18, 120, (60, 90, 200)), (0, 0, (90, 160, 60))):
        card_shape(img, 270 + dx, 560, 170, 240, angle, fill, GOLD)
        star(img, 270 + dx, 560, 40, (240, 250, 255))
    rrect(img, Region(60, 130, 480, 290), 30, (80, 30, 60), border=GOLD, bw=5)
    for word, y, size in (("PRISM", 190, 62), ("DECK", 258, 40)):
        for dx, dy in ((-3, 0), (3, 0), (0, -3), (0, 3), (-2, -2), (2, -2), (-2, 2), (2, 2)):   # dark outline
            text(img, word, 270 + dx, y + dy, size, SHADOW, 1000, shadow=None)
        box = text(img, word, 270, y, size, GOLD, 1000, shadow=None)
        if word == "PRISM":
            c.mark("Title", box.expand(4))
    pill = Region(150, 790, 390, 840)
    rrect(img, pill, 25, (60, 25, 50), border=WHITE, bw=3)
    text(img, "TAP TO START", 270, 815, 24, weight=1000, shadow=None)
    c.mark("TapToStart", pill)
    text(img, "v1.0.0  (c) NovaFox Games", 270, 930, 12, (220, 200, 220), REGULAR, shadow=None)
    return c


POPUP_AT = (50, 300)          # device px of every popup panel's top-left
POPUP_SIZE = (440, 360)
OK_RECT = Region(154, 276, 286, 332)   # popup-local rect of the single popup button


def _popup(title: str, header: BGR, name: str | None, lines: Sequence[str], button_name: str, fill: BGR,
           label: str, title_colour: BGR = WHITE) -> Canvas:
    """An opaque popup panel: ``header``-coloured title band (the title marked ``name`` unless None), body
    ``lines``, one button ``label`` (marked ``button_name``) at :data:`OK_RECT`, so every popup button sits at one
    place."""
    w, h = POPUP_SIZE
    c = Canvas(np.zeros((h, w, 3), np.uint8))
    img = c.image
    cv2.rectangle(img, (0, 0), (w - 1, h - 1), SHADOW, -1)
    cv2.rectangle(img, (3, 3), (w - 4, h - 4), PANEL_EDGE, -1)
    cv2.rectangle(img, (7, 7), (w - 8, h - 8), PANEL, -1)
    cv2.rectangle(img, (7, 7), (w - 8, 66), header, -1)
    box = text(img, title, w // 2, 37, 30, title_colour, 1000, shadow=None)
    if name:
        c.mark(name, box.expand(6))
    for i, line in enumerate(lines):
        text(img, line, w // 2, 120 + 40 * i, 17, INK, shadow=None)
    button(c, button_name, OK_RECT, label, fill)
    return c


GREEN, BLUE = (70, 170, 60), (200, 130, 40)
# Title bands and text colours differ by kind so that no popup title correlates with another (docs/demo-game.md)
POPUPS: dict[str, Callable[[], Canvas]] = {
    "popup_notice": lambda: _popup("NOTICE", BLUE, None, ("Daily login bonus received!", "+ 50 gems"),
                                   "OK", GREEN, "OK"),
    "popup_no_response": lambda: _popup("NO RESPONSE", (60, 170, 250), "NoResponse",
                                        ("The server did not respond.", "Please try again."), "OK", GREEN, "OK",
                                        INK),
    "popup_error": lambda: _popup("ERROR", (50, 50, 200), "Error",
                                  ("Connection failed (code 102).", "Check your network."), "Retry",
                                  (30, 130, 235), "RETRY"),
    "popup_complete": lambda: _popup("COMPLETE", (110, 215, 120), "Complete",
                                     ("Mission reward claimed:", "+ 100 gems"), "OK", GREEN, "OK", INK),
}


def _welcome() -> Canvas:
    """The guest's first screen: the popup panel, baked onto a plain background."""
    panel = _popup("WELCOME!", (225, 165, 235), "Welcome",
                   ("You are playing as a guest.", "Link an account from the Menu."), "OK", GREEN, "OK", INK)
    return compose(_game_background(5), panel, POPUP_AT)


def _home() -> Canvas:
    """The home screen: ``Main`` badge, currencies, player card, pack banner, tiles, bottom bar."""
    c = _game_background(7)
    img = c.image
    _top_bar(img)
    badge = Region(16, 22, 136, 70)
    rrect(img, badge, 14, (60, 140, 230), border=SHADOW, bw=3)
    poly(img, [(40, 46), (52, 34), (64, 46)], WHITE)
    cv2.rectangle(img, (44, 46), (60, 60), WHITE, -1)
    text(img, "HOME", 100, 46, 16, shadow=None)
    c.mark("Main", badge)
    for x, col, amount in ((300, (230, 120, 200), "1,250"), (420, GOLD, "8,400")):
        rrect(img, Region(x, 28, x + 104, 64), 18, (35, 20, 18))
        cv2.circle(img, (x + 18, 46), 12, col, -1, cv2.LINE_AA)
        text(img, amount, x + 38, 46, 15, align="left", shadow=None)
    rrect(img, Region(24, 112, 516, 232), 18, (90, 55, 45), border=(170, 130, 100), bw=3)
    cv2.circle(img, (84, 172), 40, (180, 140, 90), -1, cv2.LINE_AA)
    star(img, 84, 172, 26, GOLD)
    text(img, "Player 0417", 144, 150, 22, align="left")
    text(img, "Lv. 12", 144, 190, 16, (200, 230, 255), align="left", shadow=None)
    rrect(img, Region(250, 182, 490, 198), 8, (50, 30, 25))
    rrect(img, Region(250, 182, 410, 198), 8, (90, 200, 120))
    banner = Region(24, 258, 516, 580)
    rrect(img, banner, 24, (140, 60, 110), border=GOLD, bw=4)
    card_shape(img, 190, 448, 150, 210, -8, (200, 120, 60), GOLD)
    card_shape(img, 330, 448, 150, 210, 8, (80, 80, 200), GOLD)
    star(img, 190, 448, 34, WHITE)
    star(img, 330, 448, 34, WHITE)
    text(img, "AURORA PACK", 270, 300, 27)
    text(img, "NEW!", 455, 540, 19, (60, 230, 250))
    for x, title, col in ((24, "DAILY", (90, 150, 60)), (278, "EVENT", (60, 90, 190))):
        rrect(img, Region(x, 604, x + 238, 790), 18, col, border=(230, 230, 230), bw=3)
        text(img, title, x + 119, 650, 24)
        text(img, "2 / 3 done" if title == "DAILY" else "ends in 3d", x + 119, 720, 16, shadow=None)
    cv2.rectangle(img, (0, 826), (539, 959), (45, 28, 25), -1)
    cv2.line(img, (0, 826), (539, 826), (150, 110, 80), 3)
    for name, x, label, fill in (("Pack", 30, "PACK", (40, 140, 220)), ("Missions", 205, "MISSIONS", (150, 140, 40)),
                                 ("Menu", 380, "MENU", (150, 70, 130))):
        button(c, name, Region(x, 858, x + 130, 922), label, fill, 16)
    return c


def _menu() -> Canvas:
    """The menu: header with ``Back`` and six menu rows."""
    c = _game_background(11)
    _header(c, "MENU")
    for i, item in enumerate(("Profile", "Friends", "Shop", "Settings", "Link account", "Support")):
        r = Region(30, 130 + 100 * i, 510, 210 + 100 * i)
        rrect(c.image, r, 16, (95, 60, 50), border=(170, 130, 100), bw=2)
        cv2.circle(c.image, (76, r.center[1]), 22, (60 + 30 * i, 150, 230 - 25 * i), -1, cv2.LINE_AA)
        text(c.image, item, 118, r.center[1], 22, align="left")
        text(c.image, ">", 480, r.center[1], 24, shadow=None)
    return c


def _missions() -> Canvas:
    """The missions list; only the first (completed) mission has a ``Claim`` button."""
    c = _game_background(13)
    _header(c, "MISSIONS")
    rows = (("Log in today", 1, 1), ("Open 3 packs", 1, 3), ("Win 2 battles", 0, 2), ("Add a friend", 0, 1))
    for i, (title, done, need) in enumerate(rows):
        r = Region(24, 124 + 150 * i, 516, 254 + 150 * i)
        rrect(c.image, r, 18, (95, 60, 50), border=(170, 130, 100), bw=2)
        text(c.image, title, 50, r.y1 + 36, 22, align="left")
        rrect(c.image, Region(50, r.y1 + 76, 340, r.y1 + 96), 10, (50, 30, 25))
        if done:
            rrect(c.image, Region(50, r.y1 + 76, 50 + 290 * done // need, r.y1 + 96), 10, (90, 200, 120))
        text(c.image, f"{done}/{need}", 370, r.y1 + 86, 16, align="left", shadow=None)
        if i == 0:
            button(c, "Claim", Region(404, r.y1 + 36, 500, r.y1 + 94), "CLAIM", GREEN, 19)
        else:
            text(c.image, "+50", 452, r.y1 + 60, 19, (230, 120, 200))
    return c


def _pack_art(img: np.ndarray, cx: int, cy: int, scale: float) -> None:
    """The Aurora pack: a foil packet with crimped edges and an emblem."""
    w, h = int(220 * scale), int(360 * scale)
    r = Region(cx - w // 2, cy - h // 2, cx + w // 2, cy + h // 2)
    rrect(img, r, int(12 * scale), (150, 70, 120), border=GOLD, bw=max(2, int(5 * scale)))
    for y in (r.y1 + int(24 * scale), r.y2 - int(24 * scale)):
        for x in range(r.x1 + 6, r.x2 - 6, max(4, int(12 * scale))):
            cv2.line(img, (x, y - int(8 * scale)), (x, y + int(8 * scale)), GOLD_EDGE, 2)
    cv2.circle(img, (cx, cy), int(70 * scale), (200, 120, 60), -1, cv2.LINE_AA)
    star(img, cx, cy, int(55 * scale), WHITE)
    text(img, "AURORA", cx, r.y2 - int(60 * scale), round(24.3 * scale), GOLD)


def _pack_select() -> Canvas:
    """The pack to open, and the ``OpenPack`` button."""
    c = _game_background(17)
    _header(c, "PACKS")
    _pack_art(c.image, 270, 400, 1.0)
    text(c.image, "2 packs ready", 270, 640, 22, (200, 230, 255))
    button(c, "OpenPack", Region(204, 700, 336, 760), "OPEN", GOLD_EDGE)
    return c


def _pack_opening() -> Canvas:
    """The opening animation's frame: light rays behind the glowing pack."""
    c = Canvas(gradient(DEVICE_SIZE, (40, 15, 30), (90, 20, 60)))
    for i in range(24):
        a = 2 * math.pi * i / 24
        poly(c.image, [(270, 440), (270 + 700 * math.cos(a), 440 + 700 * math.sin(a)),
                        (270 + 700 * math.cos(a + 0.12), 440 + 700 * math.sin(a + 0.12))], (80, 60, 120))
    cv2.circle(c.image, (270, 440), 190, (150, 200, 250), -1, cv2.LINE_AA)
    cv2.circle(c.image, (270, 440), 150, (210, 240, 255), -1, cv2.LINE_AA)
    _pack_art(c.image, 270, 440, 0.8)
    text(c.image, "OPENING...", 270, 760, 30)
    return c


CARDS = (("Ember Fox", (40, 70, 210), 60), ("Tide Eel", (200, 120, 40), 70), ("Moss Golem", (60, 150, 70), 90),
         ("Storm Kite", (40, 190, 230), 50), ("Dream Moth", (170, 70, 150), 40))


def _card(img: np.ndarray, r: Region, name: str, colour: BGR, hp: int, rarity: int) -> None:
    """One card of the pack result: frame by rarity, name, art glyph by type, HP strip, rarity diamonds."""
    rrect(img, r, 12, colour, border=GOLD if rarity > 2 else (200, 200, 200), bw=5)
    text(img, name, r.center[0], r.y1 + 24, 14, weight=REGULAR)
    art = Region(r.x1 + 12, r.y1 + 44, r.x2 - 12, r.y1 + 140)
    cv2.rectangle(img, (art.x1, art.y1), (art.x2 - 1, art.y2 - 1), (240, 230, 220), -1)
    cx, cy = art.center
    glyphs: dict[int, Callable[[], object]] = {
        0: lambda: poly(img, [(cx, cy - 32), (cx + 30, cy + 26), (cx - 30, cy + 26)], colour),
        1: lambda: cv2.ellipse(img, (cx, cy), (40, 20), 0, 0, 360, colour, -1, cv2.LINE_AA),
        2: lambda: cv2.rectangle(img, (cx - 28, cy - 28), (cx + 28, cy + 28), colour, -1),
        3: lambda: poly(img, [(cx + 6, cy - 34), (cx - 20, cy + 4), (cx, cy + 4), (cx - 8, cy + 34),
                              (cx + 22, cy - 6), (cx + 2, cy - 6)], colour),
        4: lambda: star(img, cx, cy, 34, colour)}
    glyphs[[c[0] for c in CARDS].index(name)]()
    cv2.rectangle(img, (r.x1 + 12, r.y1 + 150), (r.x2 - 13, r.y1 + 180), (245, 245, 245), -1)
    text(img, f"HP {hp}", r.center[0], r.y1 + 165, 15, INK, REGULAR, shadow=None)
    for i in range(rarity):
        x = r.center[0] - 12 * (rarity - 1) + 24 * i
        poly(img, [(x, r.y2 - 32), (x + 8, r.y2 - 22), (x, r.y2 - 12), (x - 8, r.y2 - 22)], WHITE)


def _pack_result() -> Canvas:
    """The five cards drawn from the pack and the ``Next`` button."""
    c = _game_background(19)
    text(c.image, "NEW CARDS!", 270, 90, 35, GOLD)
    slots = [(30, 160), (195, 160), (360, 160), (112, 430), (277, 430)]
    for (x, y), (name, colour, hp), rarity in zip(slots, CARDS, (1, 2, 1, 3, 4), strict=True):
        _card(c.image, Region(x, y, x + 150, y + 240), name, colour, hp, rarity)
    button(c, "Next", Region(204, 800, 336, 858), "NEXT", BLUE)
    return c


SCREENS: dict[str, Callable[[], Canvas]] = {
    "launcher": _launcher, "splash": _splash, "title": _title, "welcome": _welcome, "home": _home,
    "menu": _menu, "missions": _missions, "pack_select": _pack_select, "pack_opening": _pack_opening,
    "pack_result": _pack_result,
}


def compose(base: Canvas, overlay: Canvas, at: tuple[int, int]) -> Canvas:
    """Paste an opaque overlay at device ``at``; marks it covers disappear, its own marks move with it."""
    h, w = overlay.image.shape[:2]
    image = base.image.copy()
    image[at[1]:at[1] + h, at[0]:at[0] + w] = overlay.image
    covered = Region(at[0], at[1], at[0] + w, at[1] + h)
    marks = {n: r for n, r in base.marks.items() if not r.intersects(covered)}
    marks.update({n: r.shift(*at) for n, r in overlay.marks.items()})
    return Canvas(image, marks)
