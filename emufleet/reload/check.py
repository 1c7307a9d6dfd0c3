"""Validating the watched data folders: every file of ``routines/``, ``templates/``, ``groups/``, ``pools/`` and
``hosts/`` with the loader that reads it in production, each error located (``file:line:col: field: message``).

One bad file never hides the others: routines are checked by one :class:`~emufleet.routines.RoutineRegistry` load
(which keeps going past bad files and also checks references between routines and to templates), the template set
with its errors collected, and each group, pool and host file on its own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.errors import (
    GroupValidationError,
    HostValidationError,
    InputError,
    PoolValidationError,
    TemplateRegistryError,
)

__all__ = ["KINDS", "Validation", "data_files", "file_key", "validate"]

#: The watched folders, in the order they are checked (templates before the routines that use them).
KINDS = ("templates", "routines", "groups", "pools", "hosts")
_YAML = (".yaml", ".yml")

if TYPE_CHECKING:  # not imported at run time: OpenCV only when a check runs
    from emufleet.groups import GroupDefinition
    from emufleet.routines import RoutineRegistry
    from emufleet.vision import TemplateSet


def data_files(home: Path, kind: str) -> list[Path]:
    """The files of folder ``kind`` under ``home``, sorted: every file under ``templates/`` (the registry and its
    images), the YAML files under the others; hidden files and editors' temporary files are left out."""
    root = home / kind
    if not root.is_dir():
        return []
    files = (p for p in root.rglob("*") if p.is_file() and not any(part.startswith(".") for part in
                                                                   p.relative_to(root).parts))
    if kind != "templates":
        files = (p for p in files if p.suffix.lower() in _YAML)
    return sorted(p for p in files if not p.name.endswith("~"))


def file_key(home: Path, path: Path) -> str:
    """``<kind>/<path under its folder>`` with ``/`` separators, e.g. ``routines/demo/reach_home.yaml`` (symbolic
    links are not followed: a linked folder's files are keyed under the link). Raises ``ValueError`` for a path
    outside ``home``."""
    return Path(os.path.abspath(path)).relative_to(os.path.abspath(home)).as_posix()


@dataclass
class Validation:
    """What :func:`validate` found: errors by file key (files without errors are absent), the candidate template
    set (``None`` when it has errors) and routine registry (checked against the candidate, else ``fallback``)."""

    errors: dict[str, list[InputError]] = field(default_factory=dict)
    templates: TemplateSet | None = None
    registry: RoutineRegistry | None = None

    def add(self, home: Path, default: Path, error: InputError) -> None:
        where = Path(error.file) if error.file else default
        try:
            key = file_key(home, where if where.is_absolute() else home / where)
        except ValueError:  # an error about a file outside the folders (an image the registry names): its registry
            key = file_key(home, default)
        self.errors.setdefault(key, []).append(error)


def validate(home: Path, *, fallback_templates: TemplateSet | None = None) -> Validation:
    """Check every watched file under ``home``. ``fallback_templates``: what routines are checked against when the
    template set on disk has errors (the last good one); ``None``: routines are then checked without templates."""
    from emufleet.groups import GroupDefinition, load_group
    from emufleet.hosts import load_host
    from emufleet.pools import PoolDefinition
    from emufleet.routines import RoutineRegistry
    from emufleet.vision import TemplateSet

    out = Validation()
    registry_file = home / "templates" / "registry.yaml"
    if registry_file.is_file():
        errors: list[TemplateRegistryError] = []
        try:
            templates = TemplateSet.load(registry_file, errors=errors)
        except TemplateRegistryError as exc:
            errors.append(exc)
            templates = None
        for template_error in errors:
            out.add(home, registry_file, template_error)
        out.templates = templates if not errors else None
    checked_with = out.templates if out.templates is not None else fallback_templates
    out.registry = RoutineRegistry.load(home / "routines", templates=checked_with)
    for key, routine_errors in out.registry.invalid().items():
        default = out.registry.path(key) or home / "routines" / f"{key}.yaml"
        for error in routine_errors:
            out.add(home, default, error)
    for kind, load, error_type in (("groups", load_group, GroupValidationError),
                                   ("pools", PoolDefinition.load, PoolValidationError),
                                   ("hosts", load_host, HostValidationError)):
        for path in data_files(home, kind):
            try:
                loaded = load(path)
            except error_type as exc:
                out.add(home, path, exc)
                continue
            if isinstance(loaded, GroupDefinition):
                problem = _routine_problem(path, loaded, out.registry)
                if problem is not None:
                    out.add(home, path, problem)
    return out


def _routine_problem(path: Path, group: GroupDefinition, registry: RoutineRegistry) -> GroupValidationError | None:
    """What a launch's routine check would refuse in a group file (a running launch would fail every attempt with
    it): a routine no file under ``routines/`` defines, or ``routine_config`` values the routine's params refuse
    (``missing_variable``/``invalid_config``), located at the group's ``routine:`` or ``routine_config:``. A routine
    file with errors of its own is that file's rejection, not the group's."""
    from emufleet.errors import RoutineError
    from emufleet.routines.configcheck import check_config
    from emufleet.validation import locate
    from emufleet.yamlio import load_yaml

    def located(message: str, field: str) -> GroupValidationError:
        position = locate(load_yaml(path, error=GroupValidationError), [field])
        line, col = position if position is not None else (None, None)
        return GroupValidationError(message, file=path, line=line, col=col, field=field)

    if registry.path(group.routine) is None:
        known = ", ".join(registry.keys()[:10]) or "none"
        return located(f"no routine {group.routine!r} under routines/ (known: {known})", "routine")
    if registry.find(group.routine) is None:
        return None
    try:
        problems = check_config(registry, group.routine, group.routine_config, group_config=group.routine_config)
    except RoutineError:  # a routine it calls is missing: the calling routine's own error
        return None
    if not problems:
        return None
    return located("; ".join(p.message for p in problems), "routine_config")
