"""Healing: a launch starts a new bot on an instance whose bot failed (docs/farm.md, "Healing"; issue 24).

A bot that gave up is not the end of its instance for the night. In a launch that plays its pools until they are
dry (``launch.repeat: true``, the farm's long launches; a one-pass launch just ends with the failed bot), after
the group's ``launch.heal.cooldown``
(default 15 min), if the launch still runs, its schedule window is still open, the instance has not been
quarantined meanwhile (the farm's rules count every give-up: an instance that keeps giving up is the one taken out)
and it passes a health check (:func:`emufleet.device.probe.probe_instance`), the launch claims and locks it again
and starts a new bot there, under a new bot index (its own flow run, row and history). At most
``launch.heal.max_per_instance`` times per instance and launch. Bots of other hosts are not healed here: their
runs live on those hosts' workers.

The wait ends early, without a new bot, when the launch is stopped, or when every other bot of the launch has
ended and the group's pools have no available account left (a new bot would find nothing to do).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.objects import State
from prefect.events import emit_event
from sqlalchemy.exc import SQLAlchemyError

from adapters.acquire import Acquirer
from adapters.farm import admitted
from adapters.locks import claim, try_acquire, unclaim
from adapters.registry import is_cancelled
from adapters.runtime import LaunchRuntime
from emufleet.bot import BotSpec
from emufleet.errors import EmufleetError
from emufleet.groups import BotStatus, GroupDefinition
from emufleet.hosts import InstanceId

__all__ = ["Healer"]

_log = logging.getLogger(__name__)
POLL_S = 1.0  # how often a cool-down looks at the launch (stopped? work left?)


class Healer:
    """The heals of one launch: which bot replaced which (:attr:`healed`) and the new bots' final states."""

    def __init__(self, client: PrefectClient, run_id: UUID, definition: GroupDefinition, runtime: LaunchRuntime,
                 acquirer: Acquirer, probe: Callable[[str], str | None] | None = None) -> None:
        self.client = client
        self.run_id = run_id
        self.definition = definition
        self.settings = definition.launch.heal
        self.runtime = runtime
        self.acquirer = acquirer
        self._probe = probe
        self.next_bot = len(acquirer.acquired)  # new bots are numbered after the launch's first ones
        self.healed: dict[int, int] = {}  # failed bot → the bot started on its instance in its place
        self.bots: list[tuple[int, InstanceId, State | None]] = []  # (new bot, instance, final state), as they ended
        self._count: Counter[str] = Counter()
        self._running = 0

    def ended(self) -> list[tuple[int, InstanceId, State | None]]:
        """The new bots, in bot order: ``(bot, instance, final state)``."""
        return sorted(self.bots, key=lambda row: row[0])

    def running(self, delta: int) -> None:
        """A local bot of the launch started (+1) or ended (-1)."""
        self._running += delta

    async def replacement(self, spec: BotSpec, state: State) -> BotSpec | None:
        """The spec of a new bot for ``spec``'s instance after it ended in ``state``, once the cool-down passed
        and every condition holds (the module docstring), its instance claimed and locked again; else ``None``.

        Raises nothing: a heal that cannot happen is logged with the reason.
        """
        result = await _result(state)
        instance = spec.instance
        if (not state.is_failed() or result is None or not self.definition.launch.repeat
                or self.settings.max_per_instance == 0):
            return None
        if self._count[instance.key] >= self.settings.max_per_instance:
            _log.warning("bot %d on %s failed; not healed: %d new bot(s) there already in this launch", spec.bot,
                         instance.key, self._count[instance.key])
            return None
        why = result.gave_up or result.error or "failed"
        _log.warning("bot %d on %s failed (%s); a new bot starts there in %g s if it is healthy then", spec.bot,
                     instance.key, why, self.settings.cooldown)
        if not await self._cool_down():
            _log.info("bot %d on %s: not healed, the launch is stopping or its work is done", spec.bot, instance.key)
            return None
        refused = await self._refused(spec)
        if refused is not None:
            _log.warning("bot %d on %s: not healed: %s", spec.bot, instance.key, refused)
            return None
        try:
            await claim(self.acquirer.claims, self.run_id, instance)
            lock = await try_acquire(self.client, instance, holder=self.run_id)
            if lock is None:
                await unclaim(self.acquirer.claims, self.run_id, instance)
        except Exception as exc:  # noqa: BLE001 - the database or the server failed us: no heal, the launch goes on
            _log.warning("bot %d on %s: not healed: the instance could not be locked again: %s", spec.bot,
                         instance.key, exc)
            return None
        if lock is None:
            _log.warning("bot %d on %s: not healed: another launch took the instance", spec.bot, instance.key)
            return None
        self._count[instance.key] += 1
        new = self.next_bot
        self.next_bot += 1
        self.healed[spec.bot] = new
        self._emit(spec, new, why)
        _log.warning("bot %d on %s healed: bot %d starts there (%d of at most %d)", spec.bot, instance.key, new,
                     self._count[instance.key], self.settings.max_per_instance)
        return spec.model_copy(update={"bot": new, "lock_lease_id": lock.lease_id})

    async def _cool_down(self) -> bool:
        """Wait the cool-down; ``False`` as soon as the launch is stopped or its work is done."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.cooldown
        while True:
            # the watcher polls the launch run twice a second while bots run: ask the server only without it
            if self.runtime.launch_cancelled or (not self.runtime.watching
                                                 and await is_cancelled(self.client, self.run_id)):
                return False
            if self._running == 0 and not await self.runtime.call(self._work_left):
                return False
            left = until - loop.time()
            if left <= 0:
                return True
            await asyncio.sleep(min(POLL_S, left))

    def _work_left(self) -> bool:
        """Whether the group's pools still have an available account (always, for a group without pools)."""
        if not self.definition.pools:
            return True
        from emufleet import db
        from emufleet.pools.query import count_by_state

        eng = self.runtime.memo(("db", None), lambda: db.engine())
        try:
            return any(count_by_state(eng, pool=name)["available"] > 0 for name in self.definition.pools)
        except (SQLAlchemyError, EmufleetError) as exc:  # unknown: keep waiting, the health check decides
            _log.info("pools not counted while healing: %s", exc)
            return True

    async def _refused(self, spec: BotSpec) -> str | None:
        """Why no new bot may start on ``spec``'s instance now, or ``None``."""
        schedule = self.definition.schedule
        if schedule is not None and (closed := schedule.gate(datetime.now(UTC))) is not None:
            return closed
        usable, skipped = await admitted(self.runtime, self.definition, [(None, spec.instance)])
        if not usable:
            return skipped[0][1] if skipped else "quarantined"
        if self._probe is None:
            from emufleet.device.probe import probe_instance

            self._probe = probe_instance
        problem = await self.runtime.call(self._probe, spec.instance.serial)
        return None if problem is None else f"health check failed: {problem}"

    def _emit(self, spec: BotSpec, new: int, why: str) -> None:
        try:
            emit_event(event="emufleet.launch.healed",
                       resource={"prefect.resource.id": f"emufleet.instance.{spec.instance.key}",
                                 "prefect.resource.name": spec.instance.key},
                       related=[{"prefect.resource.id": f"prefect.flow-run.{self.run_id}",
                                 "prefect.resource.role": "flow-run"}],
                       payload={"group": spec.group, "failed_bot": spec.bot, "bot": new, "reason": why,
                                "heals": self._count[spec.instance.key]})
        except Exception as exc:  # noqa: BLE001 - the event is a courtesy: the new bot starts all the same
            _log.warning("emufleet.launch.healed not emitted: %s", exc)


async def _result(state: State) -> BotStatus | None:
    try:
        data = await state.aresult(raise_on_failure=False)
    except Exception as exc:  # noqa: BLE001 - no result stored (a crash): nothing to heal from
        _log.info("a bot's result could not be read (%s: %s): nothing to heal from", type(exc).__name__, exc)
        return None
    return data if isinstance(data, BotStatus) else None
