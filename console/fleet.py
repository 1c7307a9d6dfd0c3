"""What is running, read from the Prefect API (one query), and launches started from the console.

A running group *is* its flow runs (:mod:`adapters.registry`): the console keeps no state of its own beyond the
launches it started itself, whose flow runs execute inside the console process (as ``emufleet groups launch``
runs them inside the CLI's), so stopping the console stops them (:meth:`Launcher.shutdown` cancels them first,
which returns their accounts and frees their instances).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Engine

from emufleet.boundary import JsonObject
from emufleet.db import utcnow
from emufleet.farm import active
from emufleet.groups import BotStatus, GroupDefinition, GroupStore, LaunchOverrides
from emufleet.pools import LeaseRow, count_by_state, held_leases

if TYPE_CHECKING:  # Prefect is imported on the first read: the console answers /health without it (≈ 2 CPU s)
    from prefect.client.schemas.objects import FlowRun

__all__ = ["BotView", "FleetSnapshot", "LaunchRecord", "Launcher", "RunningGroup", "read_snapshot",
           "recent_launches"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BotView:
    """A live bot: its status record and its flow run (id, Prefect state name, start time)."""

    status: BotStatus
    flow_run_id: UUID
    run_state: str
    started: datetime | None

    @property
    def health(self) -> str | None:
        """The bot's health record when the engine reports one (``BotStatus.health``), else ``None``."""
        return self.status.health

    @property
    def last_failure(self) -> str | None:
        """The bot's last failure (``BotStatus.last_failure``: its evidence frame) when reported, else ``None``."""
        return self.status.last_failure


@dataclass(frozen=True, slots=True)
class RunningGroup:
    """A group with live flow runs: its newest live launch run and its live bots (by bot index)."""

    name: str
    launch_run_id: UUID | None
    launch_state: str | None
    started: datetime | None
    bots: list[BotView] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """Everything the live views show, read at ``taken_at``; ``error`` says why the Prefect API did not answer."""

    groups: list[RunningGroup]
    leases: list[LeaseRow]
    taken_at: datetime
    error: str | None = None
    pools: dict[str, dict[str, int]] = field(default_factory=dict)  # the running groups' pools: state → count
    definitions: dict[str, GroupDefinition] = field(default_factory=dict)  # every valid group definition
    # quarantined instances (emufleet.farm): "host/serial" and the bare serial → the reason
    quarantined: dict[str, str] = field(default_factory=dict)

    def group(self, name: str) -> RunningGroup | None:
        return next((g for g in self.groups if g.name == name), None)

    def lease_of(self, bot: BotStatus) -> LeaseRow | None:
        """The lease the bot holds on its account (gives the account's "since"), if any."""
        return next((lease for lease in self.leases if lease.device_account == bot.account), None)

    def key(self) -> tuple[object, ...]:
        """What the live views render from (changes ⇔ a view changes), without the timestamp."""
        return (self.error, tuple((g.name, g.launch_run_id, g.launch_state,
                                   tuple((b.flow_run_id, b.run_state, b.status.model_dump_json()) for b in g.bots))
                                  for g in self.groups),
                tuple((lease.account_id, lease.instance, lease.leased_at) for lease in self.leases),
                tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.pools.items())),
                tuple(sorted(self.quarantined.items())))


def _local(engine: Engine) -> tuple[list[LeaseRow], dict[str, GroupDefinition], dict[str, dict[str, int]],
                                   dict[str, str]]:
    definitions = GroupStore().list().groups
    pools = {p for d in definitions.values() for p in d.pools}
    quarantined: dict[str, str] = {}
    for entry in active(engine, "instance"):
        quarantined[entry.subject] = quarantined[entry.subject.partition("/")[2]] = entry.reason
    return (held_leases(engine), definitions, {p: count_by_state(engine, pool=p) for p in sorted(pools)},
            quarantined)


async def read_snapshot(engine: Engine) -> FleetSnapshot:
    """The live groups (from Prefect), the held leases, the definitions and their pools' counts; never raises for
    Prefect (the snapshot's ``error`` says what failed)."""
    from prefect.client.orchestration import get_client

    from adapters.registry import bot_status, group_of, live_runs

    leases, definitions, pools, quarantined = await asyncio.to_thread(_local, engine)
    try:
        async with get_client() as client:
            runs = await live_runs(client)
    except Exception as exc:  # the Prefect API is down or busy: the views say so instead of failing
        log.warning("console: Prefect API read failed: %s", exc)
        return FleetSnapshot([], leases, utcnow(), f"Prefect API: {exc}", pools, definitions, quarantined)
    groups: dict[str, JsonObject] = {}
    for run in runs:
        name = group_of(run)
        if name is None:
            continue
        entry = groups.setdefault(name, {"launch": None, "bots": {}})
        status = bot_status(run)
        state = run.state.name if run.state and run.state.name else "?"
        if status is None:
            if entry["launch"] is None:  # newest first: keep the newest live launch
                entry["launch"] = run
            continue
        entry["bots"].setdefault(status.bot, BotView(status, run.id, state, run.start_time))
    out = []
    for name in sorted(groups):
        launch = groups[name]["launch"]
        bots = [groups[name]["bots"][k] for k in sorted(groups[name]["bots"])]
        out.append(RunningGroup(name, launch.id if launch else None,
                                launch.state.name if launch and launch.state else None,
                                launch.start_time if launch else None, bots))
    return FleetSnapshot(out, leases, utcnow(), None, pools, definitions, quarantined)


async def recent_launches(group: str, limit: int = 5) -> list[FlowRun]:
    """The newest ``launch-group`` flow runs of ``group``, finished ones included."""
    from prefect.client.orchestration import get_client

    from adapters.registry import launch_runs

    async with get_client() as client:
        return await launch_runs(client, group, live=False, limit=limit)


@dataclass
class LaunchRecord:
    """A launch this console started: when, its flow run once Prefect has it, and how it ended."""

    group: str
    started: datetime
    task: asyncio.Task[object] | None = field(default=None, repr=False)
    flow_run_id: UUID | None = None
    state: str = "Starting"
    message: str = ""

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.done()

    def _finished(self, task: asyncio.Task[object]) -> None:
        if task.cancelled():
            self.state, self.message = "Cancelled", "the console stopped"
            return
        exc = task.exception()
        if exc is not None:
            self.state, self.message = "Crashed", str(exc)
            return
        result = task.result()
        self.state = result.name if hasattr(result, "name") else "Completed"
        self.message = getattr(result, "message", "") or ""


class Launcher:
    """Starts ``launch_group`` flow runs in this process's event loop and remembers them (newest first)."""

    def __init__(self, store_folder: str | Path | None = None) -> None:
        self.records: list[LaunchRecord] = []
        self._store_folder = store_folder

    def check(self, group: str, overrides: LaunchOverrides | None) -> None:
        """Raise what the launch would fail on at once: unknown group, overrides the definition rejects.

        Raises:
            GroupValidationError: no such group, an invalid file, or overrides that make it invalid (naming the
                group and the field).
        """
        GroupStore(self._store_folder).get(group).with_overrides(overrides)

    async def launch(self, group: str, overrides: LaunchOverrides | None = None, *,
                     wait_run_s: float = 10.0) -> LaunchRecord:
        """Start a launch of ``group`` and wait (up to ``wait_run_s``) until its flow run exists.

        Raises:
            GroupValidationError: as :meth:`check`.
        """
        from prefect.client.orchestration import get_client

        from adapters.registry import launch_runs
        from flows.launch_group import launch_group  # imported on first launch: the flow module is heavy

        await asyncio.to_thread(self.check, group, overrides)  # reads the group's file: off the loop
        async with get_client() as client:
            known = {r.id for r in await launch_runs(client, group, live=False, limit=200)}
        record = LaunchRecord(group, utcnow())
        # a flow called in a running loop returns a coroutine (typed as an Awaitable): ensure_future makes it a Task
        record.task = asyncio.ensure_future(launch_group(group, overrides, return_state=True))
        record.task.add_done_callback(record._finished)
        self.records.insert(0, record)
        del self.records[50:]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_run_s
        async with get_client() as client:
            while loop.time() < deadline and not record.task.done():
                new = [r for r in await launch_runs(client, group, live=False, limit=20) if r.id not in known]
                if new:
                    record.flow_run_id = new[0].id
                    record.state = new[0].state.name if new[0].state and new[0].state.name else "Running"
                    break
                await asyncio.sleep(0.1)
        return record

    async def shutdown(self, timeout_s: float = 20.0) -> None:
        """Stop every launch still running here (bots stop, accounts return), then wait for them to end."""
        from flows.control import stop

        live = [r for r in self.records if r.task is not None and not r.task.done()]
        for group in {r.group for r in live}:
            try:
                await stop(group)
            except Exception as exc:  # the server may already be gone: cancel the tasks below regardless
                log.warning("console: stopping group %r at shutdown failed: %s", group, exc)
        tasks = [r.task for r in live if r.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout_s)
            for task in pending:
                task.cancel()
