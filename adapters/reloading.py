"""Hot reload under Prefect: what a launch runs with, kept current by a file watcher, and every reload or rejection
as a Prefect event (automations and notifications can react to them).

A good change reaches (:class:`LiveReload`): routines and templates, the bots at their next attempt
(:class:`~emufleet.reload.LiveAssets`); the launch's group file, the bots at their next attempt for its routine,
routine config, restart policy and ``repeat`` (:class:`~emufleet.reload.group.LiveGroup`), its other fields the
group's next launch; a pool file of the launch, its pool at the next account checked out
(:meth:`~emufleet.pools.Pool.redefine`); this host's file, the launch's load thresholds from the next sample
(:meth:`adapters.resources.LaunchLoad.retune`). Never in the middle of a step.

Events (resource ``emufleet.file.<kind>/<path>``, named by the file's key, labelled ``emufleet.kind``; related: the
launch's flow run when there is one):

* ``emufleet.config.reloaded``: payload ``file`` (key), ``kind``, ``version`` (content hash), ``previous``, and
  from a launch ``applies`` (where and when it takes effect: ``next attempt: routine_config; next launch: bots``);
* ``emufleet.config.rejected``: payload ``file``, ``kind``, ``version`` (the rejected content), ``running`` (the last
  good version, which keeps running; ``None`` for a file never good), ``errors`` (``file:line:col: field: message``
  lines, cut at 2,000 characters), ``count``.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.events import emit_event

from emufleet.bot.assets import EngineAssets
from emufleet.errors import HostValidationError, PoolValidationError
from emufleet.hosts import load_host
from emufleet.pools import PoolDefinition
from emufleet.reload import ConfigWatcher, FileResult, LiveAssets, Reloader, Report
from emufleet.reload.group import LiveGroup

if TYPE_CHECKING:
    from adapters.resources import LaunchLoad
    from emufleet.bot import AttemptBoundary
    from emufleet.pools import Pool

__all__ = ["LiveReload", "emit_report", "file_event"]

_log = logging.getLogger(__name__)
MAX_ERRORS_TEXT = 2000


def file_event(result: FileResult, run_id: UUID | None = None, applies: str | None = None) -> None:
    """Emit the event of one changed file (module docstring); ``applies``: where a good change takes effect.
    Never raises."""
    related = [{"prefect.resource.id": f"prefect.flow-run.{run_id}", "prefect.resource.role": "flow-run"}] \
        if run_id is not None else []
    payload: dict[str, object] = {"file": result.key, "kind": result.kind, "version": result.version}
    if result.errors:
        text = "\n".join(str(e) for e in result.errors)
        payload.update(running=result.previous, errors=text[:MAX_ERRORS_TEXT], count=len(result.errors))
    else:
        payload["previous"] = result.previous
        if applies is not None:
            payload["applies"] = applies
    try:
        emit_event(event=f"emufleet.config.{result.status}", payload=payload, related=related,
                   resource={"prefect.resource.id": f"emufleet.file.{result.key}",
                             "prefect.resource.name": result.key, "emufleet.kind": result.kind})
    except Exception as exc:  # events are best effort (no server configured): the reload itself happened
        _log.warning("reload event not emitted for %s: %s", result.key, exc)


def emit_report(report: Report, run_id: UUID | None = None, applies: dict[str, str] | None = None) -> None:
    """One event per changed file of ``report`` (``applies``: file key → where its change takes effect)."""
    for result in report.results:
        file_event(result, run_id, (applies or {}).get(result.key))


class LiveReload:
    """A launch's hot reload (module docstring): ``assets`` (hand them to the bots), ``at_attempt`` (the bots'
    attempt boundary), ``group`` (its group's newest good definition); the launch sets ``pools`` (its open pools)
    and ``load`` (its host's load gate) once it has them. ``stop()`` at the launch's end."""

    def __init__(self, assets: EngineAssets, run_id: UUID | None = None, *, group: LiveGroup | None = None) -> None:
        self.assets = assets if isinstance(assets, LiveAssets) else LiveAssets(assets)
        self.run_id = run_id
        self.group = group
        self.pools: Callable[[], list[Pool]] = list
        self.load: LaunchLoad | None = None
        # the launch's Prefect settings (its API), for the events the watcher's thread emits
        self._context = contextvars.copy_context()
        self.watcher = ConfigWatcher(Reloader(), self._report, fallback=self.assets)

    def start(self) -> LiveReload:
        """Start watching (returns at once: the first check runs on the watcher's thread)."""
        self.watcher.start()
        return self

    async def at_attempt(self, boundary: AttemptBoundary) -> None:
        """A bot session's ``on_attempt``: its next attempt plays the newest good routines and templates with its
        group's newest good settings."""
        await self.assets.at_attempt(boundary)
        if self.group is not None:
            boundary.session.spec = self.group.respec(boundary.session.spec)

    def _apply_settings(self, report: Report) -> dict[str, str]:
        """Hand the good group, pool and host changes to what runs; returns where each change takes effect."""
        applies = {r.key: "next attempt" for r in report.results if r.kind in ("routines", "templates")}
        if self.group is not None:
            applies.update({change.key: change.describe() for change in self.group.apply(report)})
        for result in report.results:
            if result.errors or result.key in applies:
                continue
            if result.kind == "pools":
                applies[result.key] = self._pool(result)
            elif result.kind == "hosts":
                applies[result.key] = self._host(result)
            else:
                applies[result.key] = "next launch (not this launch's group)"
        return applies

    def _pool(self, result: FileResult) -> str:
        try:
            definition = PoolDefinition.load(result.path)
        except PoolValidationError as exc:  # edited again since the check: the next check reports it
            return f"not taken: {exc}"
        if any([pool.redefine(definition) for pool in self.pools()]):  # every view of it, not the first only
            return "next account checked out"
        return "next launch (not a pool this launch has opened)"

    def _host(self, result: FileResult) -> str:
        try:
            host = load_host(result.path)
        except HostValidationError as exc:
            return f"not taken: {exc}"
        if self.load is None or host.name != self.load.host.name:
            return "next launch (not this launch's host)"
        self.load.retune(host)
        return "resource thresholds from the next sample; the rest at the next launch"

    def _report(self, report: Report, first: bool) -> None:
        changed = self.assets.apply(report)
        for result in report.results:
            if result.errors:
                _log.warning("rejected %s (the last good version keeps running): %s", result.key,
                             "; ".join(str(e) for e in result.errors))
            elif not first:
                _log.info("reloaded %s @ %s", result.key, result.version)
        if not first:  # the check at start is a baseline: only its rejections are news
            self._context.copy().run(emit_report, report, self.run_id, self._apply_settings(report))
        else:
            self._context.copy().run(emit_report, Report(report.rejected, report.validation), self.run_id)
        if changed and not first:
            _log.info("bots take the new routines and templates at their next attempt")

    def stop(self) -> None:
        self.watcher.stop(wait=False)  # its daemon thread ends within a second; the launch need not wait
