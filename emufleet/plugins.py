"""Plugins: third-party recognizers, actions and conditions, found through Python entry points.

* ``emufleet.recognizers``: a :class:`~emufleet.vision.recognizers.Recognizer` subclass, or a module defining
  some; registered like the built-ins (:func:`~emufleet.vision.recognizers.recognizer`);
* ``emufleet.actions``: a step class (``StepBase`` subclass) or a condition class (``ConditionBase``), or a
  module defining some; registered in the grammar's catalogs (``@action``/``@condition``).

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."emufleet.actions"]
    stars = "emufleet_stars.actions:CountStars"

Entry points are loaded once per process, on first need: the routine grammar before it builds its step union
(:func:`emufleet.routines.grammar.catalog.load_action_plugins`), the recognizer registry on first use
(:func:`emufleet.vision.recognizers.base.get_recognizer`); this module only finds and loads them. A plugin that
cannot be imported, or names something that is not a recognizer/step/condition, is skipped and reported
(:func:`plugin_errors`, logged as a warning): one broken plugin never takes the others or the built-ins down.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType

from emufleet.errors import EmufleetError, PluginError

__all__ = ["ACTIONS_GROUP", "RECOGNIZERS_GROUP", "load_entry_points", "plugin_errors"]

log = logging.getLogger(__name__)

RECOGNIZERS_GROUP = "emufleet.recognizers"
ACTIONS_GROUP = "emufleet.actions"

_LOCK = threading.RLock()
_LOADED: dict[str, list[type]] = {}
_ERRORS: list[PluginError] = []


def _where(ep: EntryPoint) -> str:
    dist = ep.dist.name if ep.dist is not None else "?"
    return f"{ep.group}:{ep.name} ({dist})"


def load_entry_points(group: str, accepts: Callable[[type], bool], register: Callable[[type], object]) -> list[type]:
    """Load every entry point of ``group`` once: each names a class that ``accepts`` or a module whose classes
    defined there do; ``register`` is called with each (it may raise ``EmufleetError``/``ValueError`` to refuse).

    Returns the classes registered (the same list on later calls). Failures become :class:`PluginError` s in
    :func:`plugin_errors`, logged, never raised.
    """
    with _LOCK:
        if group in _LOADED:
            return _LOADED[group]
        found: list[type] = []
        _LOADED[group] = found
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            where = _where(ep)
            try:
                obj = ep.load()
            except Exception as exc:  # a third party's import may raise anything: report it, keep the others
                _fail(f"cannot be imported: {type(exc).__name__}: {exc}", where)
                continue
            if isinstance(obj, ModuleType):
                classes = [c for _, c in inspect.getmembers(obj, inspect.isclass)
                           if c.__module__ == obj.__name__ and accepts(c)]
            else:
                classes = [obj] if inspect.isclass(obj) and accepts(obj) else []
            if not classes:
                _fail(f"{ep.value} is not a class this group accepts (nor a module defining one)", where)
                continue
            for cls in classes:
                try:
                    register(cls)
                except (EmufleetError, ValueError) as exc:
                    _fail(f"{cls.__qualname__}: {exc}", where)
                else:
                    found.append(cls)
        return found


def _fail(message: str, where: str) -> None:
    error = PluginError(message, plugin=where)
    _ERRORS.append(error)
    log.warning("%s", error)


def plugin_errors() -> tuple[PluginError, ...]:
    """The plugins skipped so far in this process, with why."""
    with _LOCK:
        return tuple(_ERRORS)

