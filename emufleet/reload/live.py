"""Hot reload with rollback: compare the watched files with their last good versions, validate, record, and hand
running bots the newest good routines and templates at their next attempt boundary.

* :class:`Reloader` checks the data folders (:func:`emufleet.reload.check.validate`) and reports every file whose
  content differs from its last good version (:class:`FileResult`: ``reloaded`` with its new version, or
  ``rejected`` with its located errors). Good versions are recorded in the :class:`~emufleet.reload.versions.
  VersionStore` (the last :data:`~emufleet.reload.versions.KEEP` per file), so a rollback is one command.
* :class:`LiveAssets` is the :class:`~emufleet.bot.assets.EngineAssets` of a launch whose content follows the newest
  good version: :meth:`LiveAssets.apply` swaps in a report's template set and routine registry, where every routine
  whose file is rejected keeps its last good version (and a rejected template set the last good set). A bot asks
  :meth:`LiveAssets.latest` once per attempt (:meth:`LiveAssets.at_attempt` is the session's ``on_attempt`` seam),
  never in the middle of a step.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from emufleet.bot.assets import EngineAssets
from emufleet.errors import InputError
from emufleet.reload.check import KINDS, Validation, data_files, file_key, validate
from emufleet.reload.versions import VersionStore, version_of

if TYPE_CHECKING:
    from emufleet.bot.session import AttemptBoundary

__all__ = ["FileResult", "LiveAssets", "Reloader", "Report"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileResult:
    """One changed file: its key (``routines/demo/x.yaml``), kind (its folder), path, new ``version`` (content hash),
    the last good version before (``previous``, ``None`` for a new file) and its ``errors`` (none: reloaded)."""

    key: str
    kind: str
    path: Path
    version: str
    previous: str | None
    errors: tuple[InputError, ...] = ()

    @property
    def status(self) -> Literal["reloaded", "rejected"]:
        return "rejected" if self.errors else "reloaded"


@dataclass(frozen=True)
class Report:
    """What one check found: the changed files (``results``, in folder order) and the validation behind it."""

    results: list[FileResult]
    validation: Validation = field(repr=False)

    @property
    def rejected(self) -> list[FileResult]:
        return [r for r in self.results if r.errors]

    def touches(self, *kinds: str) -> bool:
        return any(r.kind in kinds for r in self.results)


class Reloader:
    """Checks the data folders under ``home`` against ``store`` (see the module docstring).

    ``record=False`` only reports (the console's banner): good versions are recorded by launches and
    ``emufleet reload``.
    """

    def __init__(self, home: Path | None = None, store: VersionStore | None = None, *, record: bool = True) -> None:
        from emufleet.settings import project_root

        self.home = Path(os.path.abspath(home or project_root()))
        self.store = store or VersionStore()
        self.record = record
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}  # key -> the version this reloader's last check read

    def folders(self) -> list[Path]:
        """The watched folders that exist."""
        return [self.home / kind for kind in KINDS if (self.home / kind).is_dir()]

    def check(self, *, fallback: EngineAssets | None = None, since: float | None = None) -> Report:
        """Validate everything and report the files that differ from their last good version; record the good ones.

        ``fallback``: the running assets (routines are checked against its template set when the one on disk is
        rejected). A file whose content changed since this reloader's last check is reported even when another
        process recorded its new version first. ``since`` (``time.time()``): also report, as reloaded, the files
        whose good version was recorded after it by another process (a launch's watcher took the change first,
        and this reloader is new: ``emufleet reload``). Never raises for bad files;
        ``OSError`` if the store cannot be written.
        """
        with self._lock:
            validation = validate(self.home, fallback_templates=fallback.templates if fallback else None)
            results = []
            for kind in KINDS:
                for path in data_files(self.home, kind):
                    key = file_key(self.home, path)
                    try:
                        data = path.read_bytes()
                    except OSError as exc:  # removed between the listing and the read
                        log.info("%s not read: %s", key, exc)
                        continue
                    version = version_of(data)
                    seen, self._seen[key] = self._seen.get(key), version
                    history = self.store.history(key)
                    latest = history[-1] if history else None
                    if latest is not None and latest.version == version:
                        # recorded meanwhile by another process (`emufleet reload` ran before a launch's watcher
                        # checked, or the other way round): still news to whoever holds this reloader
                        if (seen is not None and seen != version) or (since is not None and latest.at > since):
                            before = history[-2].version if len(history) > 1 else None
                            results.append(FileResult(key, kind, path, version, before))
                        continue
                    errors = tuple(validation.errors.get(key, ()))
                    results.append(FileResult(key, kind, path, version, latest.version if latest else None, errors))
                    if not errors and self.record:
                        self.store.record(key, data)
            return Report(results, validation)

    def key_of(self, path: Path, field: str = "file") -> str:
        """The key of a watched file (``routines/demo/x.yaml``); ``path`` relative to the current folder.

        Raises:
            InputError: ``path`` is outside the project root or its watched folders.
        """
        path = path if path.is_absolute() else Path.cwd() / path
        try:
            key = file_key(self.home, path)
        except ValueError:  # pathlib's relative_to: not under the root
            raise InputError(f"{path} is not under {self.home}", field=field) from None
        if key.split("/", 1)[0] not in KINDS:
            raise InputError(f"{key} is not in a watched folder ({', '.join(KINDS)})", field=field)
        return key

    def rollback(self, path: Path, to: str | None = None) -> str:
        """Write the last good version of ``path`` back (or version ``to``): the one before the current content when
        that is itself the newest good one. Returns the version restored.

        Raises:
            InputError: ``path`` is not a watched file, or no such earlier version is kept.
        """
        path = path if path.is_absolute() else Path.cwd() / path
        key = self.key_of(path, "--rollback")
        current = path.read_bytes() if path.is_file() else None
        target = self.store.rollback_target(key, current, to)
        data = self.store.content(target.version)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return target.version


class LiveAssets(EngineAssets):
    """Engine assets whose template set and routine registry follow the newest good version (module docstring).

    Its own ``templates``/``registry`` fields are the newest; :meth:`latest` returns them as one consistent
    :class:`EngineAssets` (what a bot takes at its attempt boundary). ``versions`` maps each routine and template
    file's key to the version running. Thread-safe.
    """

    def __init__(self, assets: EngineAssets, *, home: Path | None = None) -> None:
        super().__init__(assets.templates, assets.registry)
        from emufleet.settings import project_root

        object.__setattr__(self, "home", Path(os.path.abspath(home or project_root())))
        object.__setattr__(self, "_snapshot", EngineAssets(assets.templates, assets.registry))
        object.__setattr__(self, "_lock", threading.Lock())
        object.__setattr__(self, "versions", {})

    home: Path
    _snapshot: EngineAssets
    _lock: threading.Lock
    versions: dict[str, str]

    def latest(self) -> EngineAssets:
        """The newest good template set and routine registry, as one consistent pair."""
        with self._lock:
            return self._snapshot

    async def at_attempt(self, boundary: AttemptBoundary) -> None:
        """A bot session's ``on_attempt`` seam: its next attempt (and its recoveries) play the newest good version;
        never a change in the middle of a step."""
        boundary.session.assets = self.latest()

    def apply(self, report: Report) -> bool:
        """Take ``report``'s good routines and templates (rejected ones keep their last good version). Returns
        whether the running assets changed."""
        if not report.touches("routines", "templates"):
            return False
        from emufleet.routines import RoutineRegistry

        with self._lock:
            current = self._snapshot
            templates = report.validation.templates or current.templates
            registry = report.validation.registry
            if registry is None or registry.templates is not templates:  # the templates were rejected: check again
                registry = RoutineRegistry.load(self.home / "routines", templates=templates)
            kept = registry.keep_last_good(current.registry)
            if kept:
                log.warning("rejected routines keep their last good version: %s", ", ".join(kept))
            snapshot = EngineAssets(templates, registry)
            object.__setattr__(self, "_snapshot", snapshot)
            object.__setattr__(self, "templates", templates)
            object.__setattr__(self, "registry", registry)
            self.versions.update({r.key: r.version for r in report.results
                                  if not r.errors and r.kind in ("routines", "templates")})
            return True
