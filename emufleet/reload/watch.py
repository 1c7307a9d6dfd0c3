"""Watching the data folders: a thread on ``watchfiles`` (the OS's file events: inotify, ReadDirectoryChangesW,
FSEvents) that runs a :class:`~emufleet.reload.live.Reloader` check after each batch of changes and hands the report
to a callback (a launch applies it to its :class:`~emufleet.reload.live.LiveAssets` and emits events; the console
shows its banner)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from emufleet.bot.assets import EngineAssets
from emufleet.reload.live import Reloader, Report

__all__ = ["DEBOUNCE_MS", "ConfigWatcher"]

log = logging.getLogger(__name__)
DEBOUNCE_MS = 300  # an editor's save is several events; one check after they settle
_TICK_MS = 500  # how often the watch looks at its stop flag


class ConfigWatcher:
    """Watches the reloader's folders from a thread: once the OS watch is in place it runs a first check (a
    baseline: ``on_report(report, True)``) and sets :attr:`ready`; then one check per batch of changes
    (``on_report(report, False)``). ``on_report`` runs on the watcher's thread; an exception there is logged and the
    watch goes on. ``fallback``: the running assets (routines are checked against its templates when those on disk
    are rejected). :meth:`stop` ends the thread within half a second."""

    def __init__(self, reloader: Reloader, on_report: Callable[[Report, bool], None], *,
                 fallback: EngineAssets | None = None) -> None:
        self.reloader = reloader
        self.on_report = on_report
        self.fallback = fallback
        self.last: Report | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ConfigWatcher:
        """Start watching (returns at once; :attr:`ready` is set after the first check)."""
        self._thread = threading.Thread(target=self._watch, name="emufleet-reload", daemon=True)
        self._thread.start()
        return self

    def stop(self, *, wait: bool = True) -> None:
        """End the watch (``wait=False``: do not wait for the thread, which ends within half a second)."""
        self._stop.set()
        if self._thread is not None and wait:
            self._thread.join(timeout=5)

    def check(self, *, first: bool = False) -> None:
        """Check now and report (what a batch of changes triggers)."""
        try:
            report = self.reloader.check(fallback=self.fallback)
            self.last = report
            self.on_report(report, first)
        except Exception as exc:  # a failed check (the state folder unwritable) must not end the watch
            log.warning("reload check failed: %s", exc)

    def _watch(self) -> None:
        from watchfiles import watch

        folders = self.reloader.folders()
        try:
            if not folders:
                self.check(first=True)
                return
            # yield_on_timeout: the first (empty) yield comes once the OS watch is in place, so the first check
            # sees every change made before it and the watch every change after it
            for changes in watch(*folders, stop_event=self._stop, debounce=DEBOUNCE_MS, rust_timeout=_TICK_MS,
                                 yield_on_timeout=True, raise_interrupt=False):
                if not self.ready.is_set():
                    self.check(first=True)
                    self.ready.set()
                elif changes:
                    self.check()
        finally:
            self.ready.set()
