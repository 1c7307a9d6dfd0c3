"""One variable store per bot and ``${var}`` interpolation (digest §2.2).

The main routine, its ``RunRoutine`` sub-routines and every sentry of a bot share one store (the seed's
model); it is thread-safe because sentries run in their own threads. Values are strings, as in the seed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping

from emufleet.errors import RoutineError

__all__ = ["VariableStore", "UndefinedVariable", "references", "VAR_PATTERN"]

#: ``${name}`` with ``name`` in ``[A-Za-z0-9_]+`` (digest §2.2).
VAR_PATTERN = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


class UndefinedVariable(KeyError):
    """A ``${name}`` reference or a variable read named a variable that is not set."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"undefined variable {self.name!r}"


def references(text: str) -> list[str]:
    """The variable names ``text`` references with ``${…}``, in order."""
    return VAR_PATTERN.findall(text)


class VariableStore:
    """Thread-safe ``str → str`` variables; names in ``persistent`` survive :meth:`clear_non_persistent`."""

    def __init__(self, initial: Mapping[str, object] | None = None) -> None:
        self._lock = threading.RLock()
        self._values: dict[str, str] = {k: str(v) for k, v in (initial or {}).items()}
        self._persistent: set[str] = set()

    def get(self, name: str) -> str:
        """The value of ``name``; raises :class:`UndefinedVariable`."""
        with self._lock:
            try:
                return self._values[name]
            except KeyError:
                raise UndefinedVariable(name) from None

    def get_or(self, name: str, default: str | None = None) -> str | None:
        with self._lock:
            return self._values.get(name, default)

    def set(self, name: str, value: object, *, persistent: bool = False) -> None:
        with self._lock:
            self._values[name] = str(value)
            if persistent:
                self._persistent.add(name)

    def __contains__(self, name: object) -> bool:
        with self._lock:
            return name in self._values

    def add(self, name: str, amount: int) -> int:
        """Integer add, atomically (``Increment``/``Decrement``): a missing variable counts as 0.

        Raises:
            RoutineError: the current value is not an integer.
        """
        with self._lock:
            current = self._values.get(name, "0")
            try:
                value = int(current.strip())
            except ValueError:
                raise RoutineError(f"variable {name!r} is not an integer: {current!r}") from None
            self._values[name] = str(value + amount)
            return value + amount

    def is_persistent(self, name: str) -> bool:
        with self._lock:
            return name in self._persistent

    def clear_non_persistent(self) -> None:
        """Forget every variable not marked persistent (between top-level iterations, digest §2.2)."""
        with self._lock:
            self._values = {k: v for k, v in self._values.items() if k in self._persistent}

    def snapshot(self) -> dict[str, str]:
        with self._lock:
            return dict(self._values)

    def update(self, values: Iterable[tuple[str, object]]) -> None:
        with self._lock:
            for k, v in values:
                self._values[k] = str(v)

    def interpolate(self, text: str) -> str:
        """Replace every ``${name}``; raises :class:`UndefinedVariable` for the first undefined one."""
        with self._lock:
            def sub(m: re.Match[str]) -> str:
                try:
                    return self._values[m.group(1)]
                except KeyError:
                    raise UndefinedVariable(m.group(1)) from None

            return VAR_PATTERN.sub(sub, text)
