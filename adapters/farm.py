"""The farm's memory under Prefect (:mod:`emufleet.farm`; docs/farm.md): one ledger per launch process, fed by
every bot's observer and flushed off the event loop; its quarantine rule; a Prefect event per new quarantine; the
launch history (a row when a launch starts, its final state from the flow's state hooks).

``emufleet.instance.quarantined`` / ``emufleet.account.quarantined``: primary resource the instance
(``emufleet.instance.<host>/<serial>``) or the account (``emufleet.account.<id>``), payload ``reason``,
``cooldown_until`` (ISO, UTC) — automations can notify on them like on bot events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from prefect.client.schemas.objects import FlowRun, State
from prefect.events import emit_event
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from adapters.runtime import LaunchRuntime
from emufleet.bot.spec import BotSpec
from emufleet.errors import EmufleetError
from emufleet.farm import FarmRules, Ledger, LedgerObserver, QuarantineEntry, admit, record_end, record_start
from emufleet.groups import GroupDefinition
from emufleet.groups.quarantine import QuarantineSettings
from emufleet.hosts import InstanceId, this_host

__all__ = ["admitted", "bot_ledger", "farm_rules", "launch_ended", "launch_started", "ledger_writer",
           "quarantine_event"]

log = logging.getLogger(__name__)
P = TypeVar("P")  # a placement, as the acquirer holds it


def quarantine_event(entry: QuarantineEntry) -> None:
    """Emit ``emufleet.<kind>.quarantined`` for a new quarantine (never raises: an event must not fail a bot)."""
    resource = (f"emufleet.instance.{entry.subject}" if entry.kind == "instance"
                else f"emufleet.account.{entry.subject}")
    try:
        emit_event(event=f"emufleet.{entry.kind}.quarantined",
                   resource={"prefect.resource.id": resource, "prefect.resource.name": entry.subject},
                   payload={"reason": entry.reason[:2000], "cooldown_until": entry.cooldown_until.isoformat() + "Z"
                            if entry.cooldown_until else None})
    except Exception as exc:  # a broken events client: the quarantine itself is in the database already
        log.warning("quarantine event for %s %s not emitted: %s", entry.kind, entry.subject, exc)


def farm_rules(runtime: LaunchRuntime, engine: Engine, settings: QuarantineSettings) -> FarmRules:
    """The launch's quarantine rules (one per database), each new quarantine announced by :func:`quarantine_event`:
    applied to what its ledger writes, and by each bot's accounts when a lease ends unsuccessfully."""
    return runtime.memo(("farm-rules", str(engine.url)), lambda: FarmRules(engine, settings, quarantine_event))


def bot_ledger(runtime: LaunchRuntime, engine: Engine, spec: BotSpec, settings: QuarantineSettings,
               launch_id: str | None) -> tuple[Ledger, LedgerObserver]:
    """The launch process's ledger (one per database) and this bot's observer into it."""
    rules = farm_rules(runtime, engine, settings)  # not inside the ledger's memo: memo holds a lock, not re-entrant
    ledger = runtime.memo(("ledger", str(engine.url)), lambda: Ledger(engine, on_written=rules))
    return ledger, ledger.observer(spec.group, spec.bot, spec.instance, launch_id)


async def ledger_writer(runtime: LaunchRuntime, ledger: Ledger, poll_s: float = 1.0) -> None:
    """Flush ``ledger`` when due, off the event loop, until cancelled; then flush what is left."""
    try:
        while True:
            await asyncio.sleep(poll_s)
            if ledger.due():
                await runtime.call(ledger.flush)
    finally:
        await asyncio.shield(runtime.call(ledger.flush))


async def launch_started(launch_id: UUID, group: str, bots: int, *, host: str) -> None:
    """Record that a launch of ``group`` started (the history page), in the shared accounts database; a database
    that cannot take it is logged, never raised: the history must not stop a launch."""
    await asyncio.to_thread(_write, lambda eng: record_start(eng, str(launch_id), group, host=host, bots=bots))


def launch_ended(flow: object, flow_run: FlowRun, state: State) -> None:
    """A ``launch-group`` state hook (completion, failure, cancellation, crash): record its final state. A process
    killed outright runs no hook; the history then shows the state Prefect gives its run."""
    message = state.message or None
    _write(lambda eng: record_end(eng, str(flow_run.id), state.name or state.type.value, message))


def _write(action: Callable[[Engine], object]) -> None:
    from emufleet import db

    try:
        eng = db.engine()
    except EmufleetError as exc:  # no database (a launch without pools): no history to keep
        log.info("launch history not recorded: %s", exc)
        return
    try:
        action(eng)
    except (SQLAlchemyError, EmufleetError) as exc:
        log.warning("launch history not recorded: %s", exc)
    finally:
        eng.dispose()


def _healthy() -> str | None:
    return None


async def admitted(runtime: LaunchRuntime, definition: GroupDefinition, batch: list[tuple[P, InstanceId]]
                   ) -> tuple[list[tuple[P, InstanceId]], list[tuple[InstanceId, str]]]:
    """Split ``batch`` into the instances a launch may use and the quarantined ones it must skip, with why
    (:func:`emufleet.farm.admit`). A local instance past its cool-down is probed here; one of another host is
    released after its cool-down and proved by its bot's start (its adb server is not reachable from here). A launch
    without pools keeps no farm history: everything is admitted."""
    if not definition.pools:
        return batch, []
    from emufleet import db
    from emufleet.device.probe import probe_instance

    eng = runtime.memo(("db", None), lambda: db.engine())
    here = this_host()

    def decide() -> tuple[list[tuple[P, InstanceId]], list[tuple[InstanceId, str]]]:
        ok, skipped = [], []
        for item in batch:
            instance = item[1]
            check: Callable[[], str | None] = (
                functools.partial(probe_instance, instance.serial) if instance.host == here else _healthy)
            why = admit(eng, instance.key, check)
            if why is None:
                ok.append(item)
            else:
                skipped.append((instance, why))
        return ok, skipped

    try:
        return await runtime.call(decide)
    except (SQLAlchemyError, EmufleetError) as exc:  # the history database is unreachable: the launch goes on
        log.warning("quarantine not consulted: %s", exc)
        return batch, []
