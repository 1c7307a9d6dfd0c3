"""The console's view of hot reload: a watcher over the data folders (report only: good versions are recorded by
launches and ``emufleet reload``) whose rejected files every page shows in a banner, and ``GET /api/reload``."""

from __future__ import annotations

from dataclasses import dataclass

from emufleet.reload import ConfigWatcher, Reloader, Report

__all__ = ["Rejected", "ReloadBanner"]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A rejected file: its key, the last good version that keeps running (``None``: never valid) and its errors
    (``file:line:col: field: message``)."""

    file: str
    running: str | None
    errors: list[str]


class ReloadBanner:
    """The files the data folders' watcher currently rejects (:meth:`rejected`), kept current from its thread."""

    def __init__(self, reloader: Reloader | None = None) -> None:
        self.watcher = ConfigWatcher(reloader or Reloader(record=False), self._report)
        self._rejected: list[Rejected] = []

    def _report(self, report: Report, first: bool) -> None:
        self._rejected = [Rejected(r.key, r.previous, [str(e) for e in r.errors]) for r in report.rejected]

    def rejected(self) -> list[Rejected]:
        return self._rejected

    def start(self) -> None:
        self.watcher.start()

    def stop(self) -> None:
        self.watcher.stop(wait=False)
