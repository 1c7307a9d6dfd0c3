"""The catalogs of routine actions and condition types: each class registers where it is written.

Adding an action is one class in one module of this package, decorated with :func:`action`::

    @action                         # or @action(aliases=("sendkey",)) for extra spellings
    class Click(Step):
        NAME = "Click"              # canonical spelling; YAML matches it case-insensitively
        x: Coord = 0

        def run(self, ex: Executor) -> None: ...

A condition type is the same with :func:`condition` on a :class:`~.conditions.ConditionBase` subclass. A loop
(which ``Break`` leaves) sets the class attribute ``LOOP = True``. Nothing else is edited: the step and condition
unions of the routine model are built from these catalogs once every module of the package is imported
(:mod:`.routine` imports them all), so a new module under ``emufleet/routines/grammar/`` is picked up by itself.
Code outside the package that registers must be imported before :mod:`emufleet.routines.grammar` is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, overload

if TYPE_CHECKING:
    from emufleet.routines.grammar.base import StepBase
    from emufleet.routines.grammar.conditions import ConditionBase

__all__ = ["ACTIONS", "CONDITION_TYPES", "Catalog", "action", "condition", "load_action_plugins"]



class _Named(Protocol):
    NAME: ClassVar[str]


C = TypeVar("C", bound=_Named)


class Catalog(Mapping[str, type[C]], Generic[C]):
    """Lower-cased name → class, in registration order; extra spellings (aliases) resolve to a canonical key.

    Registering a second class under a taken name or alias raises ``TypeError`` (a programming error, found at
    import time). Registration after the catalog is sealed (the unions built) also raises ``TypeError``: the class
    would never be selected.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._classes: dict[str, type[C]] = {}
        self._aliases: dict[str, str] = {}
        self._sealed = False

    def register(self, cls: type[C], aliases: tuple[str, ...] = ()) -> type[C]:
        """Add ``cls`` under ``cls.NAME`` (and ``aliases``); returns ``cls`` unchanged."""
        name = cls.NAME
        if not name:
            raise TypeError(f"{cls.__qualname__}: a registered {self.kind} sets NAME")
        if self._sealed:
            raise TypeError(f"{self.kind} {name!r} registered after the grammar was assembled "
                            f"(import {cls.__module__} before emufleet.routines.grammar)")
        for key in (name.lower(), *(a.lower() for a in aliases)):
            if key in self._classes or key in self._aliases:
                raise TypeError(f"{self.kind} name {key!r} of {cls.__qualname__} is taken by {self.get(key)}")
        self._classes[name.lower()] = cls
        self._aliases.update({a.lower(): name.lower() for a in aliases})
        return cls

    def seal(self) -> tuple[type[C], ...]:
        """Close the catalog and return its classes (for building the union)."""
        self._sealed = True
        return tuple(self._classes.values())

    def key(self, name: str) -> str | None:
        """The canonical lower-cased key of ``name`` (any case, aliases resolved), or ``None`` if unknown."""
        key = self._aliases.get(name.lower(), name.lower())
        return key if key in self._classes else None

    def spellings(self) -> list[str]:
        """Every accepted lower-cased spelling (names and aliases), for "did you mean" hints."""
        return [*self._classes, *self._aliases]

    def names(self) -> list[str]:
        """Canonical names (``NAME``), in registration order."""
        return [c.NAME for c in self._classes.values()]

    def __getitem__(self, key: str) -> type[C]:
        return self._classes[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)


#: lower-cased action name → step class (the seed's 41 actions, digest §1.5, and ours).
ACTIONS: Catalog[StepBase] = Catalog("action")
#: lower-cased condition type → condition class (the seed's 15 types, digest §2.1, and ours).
CONDITION_TYPES: Catalog[ConditionBase] = Catalog("condition type")

S = TypeVar("S", bound="type[StepBase]")
K = TypeVar("K", bound="type[ConditionBase]")


@overload
def action(cls: S, /) -> S: ...
@overload
def action(*, aliases: tuple[str, ...] = ()) -> Callable[[S], S]: ...
def action(cls: Any = None, /, *, aliases: tuple[str, ...] = ()) -> Any:
    """Class decorator: register a step class in :data:`ACTIONS` (``@action`` or ``@action(aliases=(…))``)."""
    def register(c: S) -> S:
        ACTIONS.register(c, aliases)
        return c
    return register if cls is None else register(cls)


def condition(cls: K, /) -> K:
    """Class decorator: register a condition class in :data:`CONDITION_TYPES`."""
    CONDITION_TYPES.register(cls)
    return cls


def load_action_plugins() -> list[type]:
    """Register the actions and conditions of the ``emufleet.actions`` entry points (:mod:`emufleet.plugins`) in
    these catalogs, once per process; :mod:`.routine` calls it before it builds the unions. A class the plugin
    already registered with ``@action``/``@condition`` is kept as it is; a taken name is a ``PluginError``."""
    from emufleet.errors import PluginError
    from emufleet.plugins import ACTIONS_GROUP, load_entry_points
    from emufleet.routines.grammar.base import StepBase
    from emufleet.routines.grammar.conditions import ConditionBase

    def accepts(cls: type) -> bool:
        return issubclass(cls, StepBase | ConditionBase) and bool(getattr(cls, "NAME", ""))

    def register(cls: type) -> None:
        catalog: Catalog[Any] = ACTIONS if issubclass(cls, StepBase) else CONDITION_TYPES
        if catalog.get(cls.NAME.lower()) is cls:  # type: ignore[attr-defined]  # accepts() checked NAME
            return
        try:
            catalog.register(cls)
        except TypeError as exc:  # a taken name: the catalog's own refusal
            raise PluginError(str(exc), plugin=cls.__qualname__) from None

    return load_entry_points(ACTIONS_GROUP, accepts, register)
