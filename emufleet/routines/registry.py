"""The routine registry: every routine file under a folder, validated eagerly (digest §1.1).

The key of a routine is its path relative to the root, without extension, with ``/`` separators
(``sentries/dismiss_popups``). Loading never raises for bad files: invalid routines are kept with their located
errors (:meth:`RoutineRegistry.invalid`). Beyond each file's own checks, the registry checks that every
template is registered in the template set, that every ``RunRoutine`` and sentry names a valid routine, and that
routines and sentries never reference each other in a cycle.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.datafiles import list_data_files
from emufleet.errors import RoutineError, RoutineValidationError
from emufleet.routines.grammar.flow import RunRoutine
from emufleet.routines.loader import Loc, Routine, read_routine, walk_steps

if TYPE_CHECKING:
    from emufleet.vision import TemplateSet

__all__ = ["RoutineRegistry", "routine_key"]

_SUFFIXES = (".yaml", ".yml")


def routine_key(path: Path, root: Path) -> str:
    """``root/sentries/x.yaml`` → ``sentries/x``."""
    return path.relative_to(root).with_suffix("").as_posix()


def _normalise(key: str) -> str:
    key = key.strip().replace("\\", "/")
    for suffix in _SUFFIXES:
        if key.endswith(suffix):
            return key[: -len(suffix)]
    return key


def template_refs(routine: Routine) -> Iterator[tuple[str, Loc]]:
    """Every registrable template name the routine's steps and conditions use, with its loc."""
    for step, loc, _ in walk_steps(routine.steps):
        for name, path in step.template_refs():
            yield name, (*loc, *path)
        for cloc, cond in step.conditions():
            for name, path in cond.template_refs():
                yield name, (*loc, *cloc, *path)


def routine_refs(routine: Routine) -> Iterator[tuple[str, Loc]]:
    """``(key, loc)`` of every routine referenced: ``RunRoutine`` targets and sentries."""
    for step, loc, _ in walk_steps(routine.steps):
        if isinstance(step, RunRoutine):
            yield _normalise(step.routine), (*loc, "routine")
    for i, sentry in enumerate(routine.sentries):
        yield _normalise(sentry.routine), ("sentries", i, "routine")


class RoutineRegistry:
    """Routines by key. Build with :meth:`load`; ``templates=None`` skips the template-name check."""

    def __init__(self, root: Path, templates: TemplateSet | None = None) -> None:
        self.root = root
        self.templates = templates
        self._valid: dict[str, Routine] = {}
        self._invalid: dict[str, list[RoutineValidationError]] = {}
        self._paths: dict[str, Path] = {}

    @classmethod
    def load(cls, root: str | Path, templates: TemplateSet | None = None) -> RoutineRegistry:
        """Read every ``*.yaml``/``*.yml`` under ``root`` (recursively) and validate them all."""
        registry = cls(Path(root), templates)
        registry.reload()
        return registry

    def reload(self) -> None:
        """Re-read every file (digest §1.1 ``Reload``)."""
        parsed: dict[str, Routine] = {}
        self._invalid, self._paths = {}, {}
        files = list_data_files(self.root, _SUFFIXES, recursive=True, error=RoutineValidationError)
        for path in files:
            key = routine_key(path, self.root)
            self._paths[key] = path
            routine, errors = read_routine(path, key)
            if routine is None:
                self._invalid[key] = errors
            else:
                parsed[key] = routine
        for key, routine in parsed.items():
            errors = self._template_errors(routine)
            if errors:
                self._invalid[key] = errors
        candidates = {k: r for k, r in parsed.items() if k not in self._invalid}
        self._check_references(candidates)
        self._check_cycles(candidates)
        self._valid = {k: r for k, r in candidates.items() if k not in self._invalid}

    # -- checks ----------------------------------------------------------------------------------------------
    def _template_errors(self, routine: Routine) -> list[RoutineValidationError]:
        if self.templates is None:
            return []
        return [routine.error(f"template {name!r} is not registered in the template set", loc)
                for name, loc in template_refs(routine) if name not in self.templates]

    def _check_references(self, candidates: dict[str, Routine]) -> None:
        # A reference to an invalid routine invalidates the referrer, transitively: a worklist over the reverse
        # references, linear in their number (a chain of thousands of routines is checked in one sweep).
        referrers: dict[str, set[str]] = {}
        for key, routine in candidates.items():
            for target, _ in routine_refs(routine):
                referrers.setdefault(target, set()).add(key)
        pending = deque(sorted(candidates))
        while pending:
            key = pending.popleft()
            if key in self._invalid:
                continue
            errors = []
            for target, loc in routine_refs(candidates[key]):
                if target in self._invalid:
                    errors.append(candidates[key].error(f"routine {target!r} is invalid (see its own errors)", loc))
                elif target not in candidates:
                    errors.append(candidates[key].error(f"routine {target!r} not found under {self.root}", loc))
            if errors:
                self._invalid[key] = errors
                pending.extend(sorted(referrers.get(key, ())))

    def _check_cycles(self, candidates: dict[str, Routine]) -> None:
        # Depth first with an explicit stack: a chain of thousands of routines must not hit the recursion limit.
        graph = {k: [(t, loc) for t, loc in routine_refs(r) if t in candidates] for k, r in candidates.items()}
        state: dict[str, int] = {}  # 1 = on the DFS path, 2 = done
        for start in sorted(graph):
            if start in state:
                continue
            state[start] = 1
            frames = [(start, iter(graph[start]))]
            stack: list[tuple[str, Loc]] = []  # the path's edges: (from, loc of the reference)
            while frames:
                key, edges = frames[-1]
                edge = next(edges, None)
                if edge is None:  # key is done; drop the edge that led to it
                    state[key] = 2
                    frames.pop()
                    if frames:
                        stack.pop()
                    continue
                target, loc = edge
                stack.append((key, loc))
                if state.get(target) == 1:
                    cycle = [k for k, _ in stack[next(i for i, (k, _) in enumerate(stack) if k == target):]]
                    text = " → ".join([*cycle, target])
                    for member, member_loc in stack[len(stack) - len(cycle):]:
                        self._invalid.setdefault(member, []).append(
                            candidates[member].error(f"reference cycle: {text}", member_loc))
                    stack.pop()
                elif target in state:
                    stack.pop()
                else:
                    state[target] = 1
                    frames.append((target, iter(graph[target])))

    def keep_last_good(self, previous: RoutineRegistry) -> list[str]:
        """Serve ``previous``'s valid version of every routine invalid here (hot reload: a rejected file keeps
        running its last good version); :meth:`invalid` still lists their errors. Returns those keys, sorted."""
        kept = sorted(k for k in self._invalid if k in previous._valid)
        for key in kept:
            self._valid[key] = previous._valid[key]
        return kept

    # -- queries ---------------------------------------------------------------------------------------------
    def find(self, key: str) -> Routine | None:
        """The valid routine ``key`` (a ``.yaml`` suffix is ignored), else ``None``."""
        return self._valid.get(_normalise(key))

    def get(self, key: str) -> Routine:
        """The valid routine ``key``.

        Raises:
            RoutineValidationError: the routine exists but is invalid (its first error).
            RoutineError: no routine has this key.
        """
        key = _normalise(key)
        if key in self._valid:
            return self._valid[key]
        if key in self._invalid:
            raise self._invalid[key][0]
        raise RoutineError(f"no routine {key!r} under {self.root}")

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _normalise(key) in self._valid

    def __len__(self) -> int:
        return len(self._valid)

    def keys(self) -> list[str]:
        """Keys of the valid routines, sorted."""
        return sorted(self._valid)

    def routines(self) -> list[Routine]:
        return [self._valid[k] for k in self.keys()]

    def by_tag(self, tag: str) -> list[Routine]:
        """Valid routines carrying ``tag``."""
        return [r for r in self.routines() if tag in r.tags]

    def invalid(self) -> dict[str, list[RoutineValidationError]]:
        """Invalid routines: key → errors (sorted by position)."""
        return {k: sorted(v, key=lambda e: (e.line or 0, e.col or 0)) for k, v in sorted(self._invalid.items())}

    def errors(self) -> list[RoutineValidationError]:
        """Every error of every file."""
        return [e for errs in self.invalid().values() for e in errs]

    def path(self, key: str) -> Path | None:
        """The file of ``key`` (valid or not)."""
        return self._paths.get(_normalise(key))
