"""Hot reload under Prefect: a launch's :class:`~emufleet.reload.LiveAssets` kept current by a file watcher, and
every reload or rejection as a Prefect event (automations and notifications can react to them).

Events (resource ``emufleet.file.<kind>/<path>``, named by the file's key, labelled ``emufleet.kind``; related: the
launch's flow run when there is one):

* ``emufleet.config.reloaded``: payload ``file`` (key), ``kind``, ``version`` (content hash), ``previous``;
* ``emufleet.config.rejected``: payload ``file``, ``kind``, ``version`` (the rejected content), ``running`` (the last
  good version, which keeps running; ``None`` for a file never good), ``errors`` (``file:line:col: field: message``
  lines, cut at 2,000 characters), ``count``.
"""

from __future__ import annotations

import logging
from uuid import UUID

from prefect.events import emit_event

from emufleet.bot.assets import EngineAssets
from emufleet.reload import ConfigWatcher, FileResult, LiveAssets, Reloader, Report

__all__ = ["LiveReload", "emit_report", "file_event"]

_log = logging.getLogger(__name__)
MAX_ERRORS_TEXT = 2000


def file_event(result: FileResult, run_id: UUID | None = None) -> None:
    """Emit the event of one changed file (module docstring). Never raises."""
    related = [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}] \
        if run_id is not None else []
    payload: dict[str, object] = {"file": result.key, "kind": result.kind, "version": result.version}
    if result.errors:
        text = "\n".join(str(e) for e in result.errors)
        payload.update(running=result.previous, errors=text[:MAX_ERRORS_TEXT], count=len(result.errors))
    else:
        payload["previous"] = result.previous
    try:
        emit_event(event=f"emufleet.config.{result.status}", payload=payload, related=related,
                   resource={"prefect.resource.id": f"emufleet.file.{result.key}",
                             "prefect.resource.name": result.key, "emufleet.kind": result.kind})
    except Exception as exc:  # events are best effort (no server configured): the reload itself happened
        _log.warning("reload event not emitted for %s: %s", result.key, exc)


def emit_report(report: Report, run_id: UUID | None = None) -> None:
    """One event per changed file of ``report``."""
    for result in report.results:
        file_event(result, run_id)


class LiveReload:
    """A launch's hot reload: ``assets`` (hand them to the bots) and the watcher that keeps them current; ``stop()``
    at the launch's end."""

    def __init__(self, assets: EngineAssets, run_id: UUID | None = None) -> None:
        self.assets = assets if isinstance(assets, LiveAssets) else LiveAssets(assets)
        self.run_id = run_id
        self.watcher = ConfigWatcher(Reloader(), self._report, fallback=self.assets)

    def start(self) -> LiveReload:
        """Start watching (returns at once: the first check runs on the watcher's thread)."""
        self.watcher.start()
        return self

    def _report(self, report: Report, first: bool) -> None:
        changed = self.assets.apply(report)
        for result in report.results:
            if result.errors:
                _log.warning("rejected %s (the last good version keeps running): %s", result.key,
                             "; ".join(str(e) for e in result.errors))
            elif not first:
                _log.info("reloaded %s @ %s", result.key, result.version)
        if not first:  # the check at start is a baseline: only its rejections are news
            emit_report(report, self.run_id)
        else:
            emit_report(Report(report.rejected, report.validation), self.run_id)
        if changed and not first:
            _log.info("bots take the new routines and templates at their next attempt")

    def stop(self) -> None:
        self.watcher.stop(wait=False)  # its daemon thread ends within a second; the launch need not wait
