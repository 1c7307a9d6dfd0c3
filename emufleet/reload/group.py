"""A running launch's group definition, kept current by hot reload: what its bots take at their next attempt.

A good edit of the launch's group file (``groups/<name>.yaml``, checked by :func:`emufleet.reload.check.validate`)
reaches the running bots at their next attempt boundary (:meth:`LiveGroup.respec`, through the session's
``on_attempt`` seam): the fields in :data:`AT_ATTEMPT`, with the launch's own overrides applied over the new file
as they were over the old. The other fields shape the launch itself (its instances and bots, backend, pools,
start-up options, the bots' supervision, schedule, flight recorder, quarantine rule), made when it began: they
take effect at the group's next launch. Each change names both (:class:`GroupChange`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from emufleet.bot.spec import BotSpec
from emufleet.errors import GroupValidationError
from emufleet.groups import GroupDefinition, LaunchOverrides, load_group
from emufleet.reload.live import Report

__all__ = ["AT_ATTEMPT", "GroupChange", "LiveGroup"]

log = logging.getLogger(__name__)

#: Group fields a running bot takes at its next attempt (``launch.`` ones inside the launch options).
AT_ATTEMPT = ("routine", "routine_config", "launch.restart_policy", "launch.repeat")
_UNTRACKED = ("created_at", "updated_at", "description", "tags")  # no effect on a run


@dataclass(frozen=True, slots=True)
class GroupChange:
    """A good edit of the launch's group file: ``key`` (``groups/x.yaml``), the fields the running bots take at their
    next attempt (``at_attempt``) and those left to the next launch (``next_launch``)."""

    key: str
    at_attempt: tuple[str, ...]
    next_launch: tuple[str, ...]

    def describe(self) -> str:
        """One line: ``next attempt: routine_config; next launch: bots``."""
        parts = [f"next attempt: {', '.join(self.at_attempt)}" if self.at_attempt else "",
                 f"next launch: {', '.join(self.next_launch)}" if self.next_launch else ""]
        return "; ".join(p for p in parts if p) or "no effective change"


def _changed(old: GroupDefinition, new: GroupDefinition) -> list[str]:
    """The dotted names of the fields that differ (``launch`` per option)."""
    out = []
    for name in GroupDefinition.model_fields:
        if name in _UNTRACKED or getattr(old, name) == getattr(new, name):
            continue
        if name == "launch":
            out += [f"launch.{option}" for option in type(old.launch).model_fields
                    if getattr(old.launch, option) != getattr(new.launch, option)]
        else:
            out.append(name)
    return out


class LiveGroup:
    """The group a launch runs, as its newest good definition (module docstring). Thread-safe: the watcher's thread
    applies, the bots read."""

    def __init__(self, definition: GroupDefinition, overrides: LaunchOverrides | None = None) -> None:
        self._definition = definition
        self.overrides = overrides
        self._lock = threading.Lock()

    @property
    def definition(self) -> GroupDefinition:
        with self._lock:
            return self._definition

    def apply(self, report: Report) -> list[GroupChange]:
        """Take a good edit of this launch's group file from ``report`` (a rejected one changes nothing: the last
        good definition keeps running). Returns the changes taken."""
        changes = []
        for result in report.results:
            if result.kind != "groups" or result.errors:
                continue
            try:
                new = load_group(result.path)
                if new.name != self.definition.name:
                    continue
                new = new.with_overrides(self.overrides)
            except GroupValidationError as exc:  # edited again since the check, or the overrides no longer fit
                log.warning("group %s not taken by the running launch: %s", result.key, exc)
                continue
            with self._lock:
                fields = _changed(self._definition, new)
                self._definition = new
            change = GroupChange(result.key, tuple(f for f in fields if f in AT_ATTEMPT),
                                 tuple(f for f in fields if f not in AT_ATTEMPT))
            log.info("group %s reloaded: %s", result.key, change.describe())
            changes.append(change)
        return changes

    def respec(self, spec: BotSpec) -> BotSpec:
        """``spec`` with the :data:`AT_ATTEMPT` fields of the newest good definition (what a bot plays next)."""
        new = self.definition
        update = {"routine": new.routine, "routine_config": dict(new.routine_config),
                  "restart_policy": new.launch.restart_policy, "repeat": new.launch.repeat}
        if all(getattr(spec, k) == v for k, v in update.items()):
            return spec
        return spec.model_copy(update=update)
