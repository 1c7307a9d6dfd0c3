"""The recognizer interface: what every way of seeing the screen returns, and where recognizers register.

A recognizer is configured once (a template, a colour range, a text pattern, a reference image) and then asked
``recognize(screen, region)``: look inside ``region`` (the declared coordinate space of the screen, half-open;
``None`` = the recognizer's default area) of one device frame and say what is there, as a :class:`Recognition`:

* ``hits``: what was recognised at or above the threshold, best first; each :class:`Hit` has its ``box`` in the
  declared coordinate space, the same place in device pixels (``device_box``), a ``score`` in [0, 1] and the
  ``text`` read there (OCR; ``None`` for the others);
* ``nearest``: the best candidate whatever its score (evidence for a failed step), ``threshold``, ``region``.

"Not found" is a value (``best is None``); bad input (a frame of the wrong shape, a region outside the window)
raises :class:`~emufleet.errors.VisionError`.

Registering a recognizer is one class attribute and one decorator, beside its definition::

    @recognizer
    class Stars(Recognizer):
        NAME = "stars"
        def recognize(self, screen, region=None): ...

Third-party packages register theirs the same way and expose the class (or its module) under the entry-point
group ``emufleet.recognizers`` (:mod:`emufleet.plugins`); :func:`get_recognizer` loads them on first use.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from emufleet.errors import VisionError
from emufleet.vision.matching import Screen
from emufleet.vision.space import CoordinateSpace, Region

__all__ = ["RECOGNIZERS", "Hit", "Recognition", "Recognizer", "device_area", "get_recognizer", "hit_from_device",
           "load_recognizer_plugins", "locate", "recognizer", "search_area"]


@dataclass(frozen=True, slots=True)
class Hit:
    """One thing recognised: ``box`` in the declared coordinate space, ``device_box`` in device pixels.

    ``score`` is in [0, 1] (a template's verified score, a colour fraction, a feature inlier ratio, OCR confidence);
    ``text`` is what was read there (``None`` for recognizers that do not read).
    """

    box: Region
    device_box: Region
    score: float
    text: str | None = None

    @property
    def center(self) -> tuple[float, float]:
        """The box centre in the declared coordinate space (what ``Click``-style taps take)."""
        return (self.box.x1 + self.box.x2) / 2.0, (self.box.y1 + self.box.y2) / 2.0


@dataclass(frozen=True, slots=True)
class Recognition:
    """What one recognizer saw in one region of one frame.

    ``name`` labels it in evidence (``template OK``, ``text /\\d+/``, ``colour``); ``region`` is the area searched
    (declared space); ``hits`` the hits at or above ``threshold``, best first; ``nearest`` the best whatever its score.
    """

    recognizer: str
    name: str
    threshold: float
    region: Region
    hits: tuple[Hit, ...]
    nearest: Hit | None

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    @property
    def found(self) -> bool:
        return bool(self.hits)

    @property
    def score(self) -> float:
        """The nearest candidate's score (0.0 when nothing could be scored)."""
        return self.nearest.score if self.nearest else 0.0

    @classmethod
    def of(cls, recognizer: str, name: str, threshold: float, region: Region,
           candidates: Iterable[Hit]) -> Recognition:
        """Sort ``candidates`` best first and keep those at or above ``threshold`` as hits."""
        ranked = sorted(candidates, key=lambda h: -h.score)
        return cls(recognizer, name, threshold, region, tuple(h for h in ranked if h.score >= threshold),
                   ranked[0] if ranked else None)


class Recognizer(ABC):
    """Base of every recognizer. Subclasses set ``NAME`` (the registry key) and implement :meth:`recognize`."""

    NAME: ClassVar[str] = ""

    @abstractmethod
    def recognize(self, screen: Screen, region: Region | None = None) -> Recognition:
        """Look inside ``region`` (declared coordinate space; ``None``: the recognizer's default, usually the
        board below the title bar) of ``screen``. Raises ``VisionError`` on bad input."""


#: recognizer name → class: the built-ins, plus plugins once :func:`get_recognizer` has loaded them.
RECOGNIZERS: dict[str, type[Recognizer]] = {}

R = TypeVar("R", bound=type[Recognizer])


def recognizer(cls: R) -> R:
    """Register ``cls`` under its ``NAME`` (class decorator). A missing or taken name is a ``VisionError``."""
    name = cls.NAME
    if not name or not name.replace("_", "").isalnum():
        raise VisionError(f"recognizer {cls.__qualname__} needs a NAME of letters, digits and _")
    known = RECOGNIZERS.get(name)
    if known is not None and known is not cls:
        raise VisionError(f"recognizer name {name!r} is taken by {known.__module__}.{known.__qualname__}")
    RECOGNIZERS[name] = cls
    return cls


def get_recognizer(name: str) -> type[Recognizer]:
    """The recognizer class registered as ``name`` (plugins of ``emufleet.recognizers`` loaded first).

    Raises ``VisionError`` for an unknown name (the message lists the known ones).
    """
    load_recognizer_plugins()
    cls = RECOGNIZERS.get(name)
    if cls is None:
        raise VisionError(f"unknown recognizer {name!r} (known: {', '.join(sorted(RECOGNIZERS))})")
    return cls


def load_recognizer_plugins() -> list[type]:
    """Register the recognizers of the ``emufleet.recognizers`` entry points (once per process)."""
    from emufleet.plugins import RECOGNIZERS_GROUP, load_entry_points

    def accepts(cls: type) -> bool:
        return issubclass(cls, Recognizer) and cls is not Recognizer and not inspect.isabstract(cls)

    return load_entry_points(RECOGNIZERS_GROUP, accepts, recognizer)


def search_area(space: CoordinateSpace, region: Region | None) -> Region:
    """``region`` checked against the window (``None``: the board below the title bar). Raises ``VisionError``."""
    area = region or space.board
    if area.clip(space.width, space.height) != area:
        raise VisionError(f"region {area.as_tuple()} lies outside the {space.width}×{space.height} window")
    return area


def device_area(space: CoordinateSpace, region: Region) -> Region:
    """The device pixels covering ``region`` (declared space), clipped to the frame."""
    rect = space.region_to_device(region).clip(space.device_width, space.device_height)
    if rect is None:  # pragma: no cover - search_area already keeps regions inside the window
        raise VisionError(f"region {region.as_tuple()} lies outside the screen")
    return rect


def locate(space: CoordinateSpace, region: Region | None) -> tuple[Region, Region]:
    """``(area, rect)``: :func:`search_area` of ``region`` and the device pixels covering it (:func:`device_area`)."""
    area = search_area(space, region)
    return area, device_area(space, area)


def hit_from_device(space: CoordinateSpace, device_box: Region, score: float, text: str | None = None) -> Hit:
    """A :class:`Hit` for a box found in device pixels (its declared-space box is the covering rectangle)."""
    return Hit(space.region_from_device(device_box), device_box, float(score), text)
