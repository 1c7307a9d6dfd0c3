"""Group definition files: load, list, save, delete (digest §9.2 "Persistence", with its defects fixed).

Definitions live in one folder (default ``<project root>/groups``, never the emulator's install folder: §11.2 #9),
one ``<file-name>.yaml`` per group where the file name is the group name with spaces → ``_``. A broken file never
hides the others: :meth:`GroupStore.list` returns the valid definitions and the located errors separately.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from emufleet.datafiles import YAML_SUFFIXES, list_data_files
from emufleet.errors import GroupValidationError
from emufleet.files import write_atomic
from emufleet.groups.definition import GroupDefinition, check_group_name
from emufleet.settings import data_dir
from emufleet.validation import load_model

__all__ = ["GroupListing", "GroupStore", "file_name", "load_group"]


def load_group(path: str | Path) -> GroupDefinition:
    """Read and validate one group file.

    Raises:
        GroupValidationError: unreadable file, bad YAML or an invalid field, as ``file:line:col: field: message``.
    """
    return load_model(GroupDefinition, path, error=GroupValidationError, what="a group definition")


def file_name(name: str) -> str:
    """The file name of group ``name``: spaces become ``_`` (names are already restricted to safe characters)."""
    return name.replace(" ", "_") + ".yaml"


@dataclass(frozen=True, slots=True)
class GroupListing:
    """Result of :meth:`GroupStore.list`: valid definitions by name, and one error per broken file."""

    groups: dict[str, GroupDefinition] = field(default_factory=dict)
    errors: list[GroupValidationError] = field(default_factory=list)


class GroupStore:
    """The group definitions of one folder.

    Example::

        store = GroupStore()                 # <project root>/groups
        demo = store.get("demo")
        store.save(demo.model_copy(update={"name": "demo2"}))
    """

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else data_dir("groups")

    def path(self, name: str) -> Path:
        """Where group ``name`` is (or would be) stored.

        Raises:
            GroupValidationError: ``name`` is not a group name (``../pools/demo``: names never traverse).
        """
        try:
            check_group_name(name)
        except ValueError as exc:
            raise GroupValidationError(f"{name!r:.80} is not a group name: {exc}", field="group") from None
        return self.folder / file_name(name)

    def list(self) -> GroupListing:
        """Every definition in the folder, sorted by name; broken files are reported, not raised."""
        listing = GroupListing()
        if not self.folder.is_dir():
            return listing
        for path in list_data_files(self.folder, YAML_SUFFIXES, error=GroupValidationError):
            try:
                group = load_group(path)
            except GroupValidationError as exc:
                listing.errors.append(exc)
                continue
            if group.name in listing.groups:
                listing.errors.append(GroupValidationError(
                    f"group {group.name!r} is also defined in {self.path(group.name).name}", file=path, field="name"))
                continue
            listing.groups[group.name] = group
        return listing

    def get(self, name: str) -> GroupDefinition:
        """The definition named ``name``.

        Raises:
            GroupValidationError: no such group (the message lists the known ones), or its file is invalid.
        """
        path = self.path(name)
        if path.is_file():
            group = load_group(path)
            if group.name == name:
                return group
        listing = self.list()
        if name in listing.groups:
            return listing.groups[name]
        known = ", ".join(sorted(listing.groups)) or "none"
        raise GroupValidationError(f"no group named {name!r} in {self.folder} (known: {known})", field="group")

    def save(self, group: GroupDefinition, *, overwrite: bool = False) -> Path:
        """Write ``group`` (stamped with ``updated_at``) atomically; returns its path.

        Raises:
            GroupValidationError: the file exists and ``overwrite`` is false.
        """
        path = self.path(group.name)
        if path.exists() and not overwrite:
            raise GroupValidationError(f"group {group.name!r} already exists (overwrite to replace it)",
                                       file=path, field="name")
        data = group.stamped().model_dump(mode="json", exclude_none=True)
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        write_atomic(path, text)  # a crash never leaves a half-written definition
        return path

    def delete(self, name: str) -> Path:
        """Remove group ``name``'s file; returns the removed path.

        Raises:
            GroupValidationError: no such group.
        """
        self.get(name)
        path = self.path(name)
        if not path.is_file():  # defined in a file named otherwise: find it
            path = next(p for p in list_data_files(self.folder, YAML_SUFFIXES) if _defines(p, name))
        path.unlink()
        return path


def _defines(path: Path, name: str) -> bool:
    try:
        return load_group(path).name == name
    except GroupValidationError:
        return False
