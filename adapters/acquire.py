"""Phase 2 of a launch: walk the group's preference list, lock instances, resolve conflicts, start them.

Each instance is claimed (:class:`emufleet.control.ClaimStore`) *then* locked (its ``instance:<host>:<serial>``
concurrency limit, :mod:`adapters.locks`) *then* started and waited for, so two launches never plan the same
instance (an instance of another host is locked here and started there, by its bot). A locked instance is a
conflict, resolved by the group's ``on_conflict``: skip | abort | cancel (the other run's bot) | ask (the launch's
flow run pauses; the operator picks skip/cancel/abort in the UI form, :class:`ConflictChoice`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol
from uuid import UUID

from prefect import get_run_logger
from prefect.client.orchestration import PrefectClient
from prefect.flow_runs import apause_flow_run
from prefect.input import RunInput

from adapters.debugging import is_debugger
from adapters.farm import admitted
from adapters.locks import InstanceLock, claim, holders, release, try_acquire, unclaim
from adapters.registry import BOT_TAG, artifact_key, request_cancel
from adapters.runtime import LaunchRuntime
from emufleet import db
from emufleet.boundary import JsonObject
from emufleet.errors import InstanceConflictError
from emufleet.groups import BotStatus, GroupDefinition, OnConflict
from emufleet.hosts import Host, HostStore, InstanceId, Placement, this_host

__all__ = ["Acquirer", "ConflictChoice", "InstanceTasks"]


class _Started(Protocol):
    @property
    def started(self) -> bool: ...


@dataclass(frozen=True)
class InstanceTasks:
    """What a launch does to its instances, handed in by the flow (the ``tasks`` layer sits above this one):
    name an instance, start it and wait until ready, stop it, and find the backend driving a host."""

    instance_of: Callable[[GroupDefinition, Placement], InstanceId]
    start: Callable[[GroupDefinition, Placement, float], Awaitable[_Started]]
    stop: Callable[[GroupDefinition, Placement], Awaitable[None]]
    backend_of: Callable[[GroupDefinition, str], tuple[str, JsonObject]]


class ConflictChoice(RunInput):
    """The operator's answer when ``on_conflict: ask`` pauses a launch (a form in the Prefect UI)."""

    action: Literal["skip", "cancel", "abort"] = "skip"


class Acquirer:
    """Phase 2 for one launch (``run_id``) of ``definition``: what it acquired, started, skipped and why."""

    def __init__(self, client: PrefectClient, run_id: UUID, definition: GroupDefinition, runtime: LaunchRuntime,
                 tasks: InstanceTasks) -> None:
        self.client = client
        self.tasks = tasks
        self.run_id = run_id
        self.definition = definition
        self.runtime = runtime
        self.claims = runtime.control.claims
        self.acquired: list[tuple[InstanceId, InstanceLock]] = []
        self.indexes: dict[InstanceId, int] = {}  # instance → backend index (for rung restart_instance)
        self.remote: dict[InstanceId, Host] = {}  # instances of other hosts: their bots run on those hosts' workers
        self.remote_status: dict[int, BotStatus] = {}  # bot index → a remote bot's last status
        self.started: list[tuple[Placement, InstanceId]] = []  # the instances this launch started
        self.conflicts: list[InstanceId] = []
        self.skipped: list[InstanceId] = []
        self.errors: list[str] = []
        self.began = db.utcnow()  # naive UTC: claims released since then were made while this launch ran
        self.logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()

    async def run(self) -> None:
        """Walk the preference list in batches of the bots still missing: claim a batch in one write, take its
        locks concurrently, resolve its conflicts in order, start its local instances concurrently (the
        ``emulator-launch`` limit still lets one emulator process launch at a time); repeat until ``bots`` are held
        or the list is done. The bots keep the preference order. On an error, every lock taken is dropped."""
        try:
            await self._walk()
        except BaseException:
            for _, lock in self.acquired:
                await self.drop(lock)
            raise

    async def _walk(self) -> None:
        pending = list(self.definition.placements())
        while pending and len(self.acquired) < self.definition.bots:
            take = self.definition.bots - len(self.acquired)
            batch = [(place, self.tasks.instance_of(self.definition, place)) for place in pending[:take]]
            pending = pending[take:]
            batch, quarantined = await admitted(self.runtime, self.definition, batch)  # docs/farm.md
            for instance, why in quarantined:
                self.skipped.append(instance)
                self.logger.warning("instance %s skipped: %s", instance, why)
            if not batch:
                continue
            for place, instance in batch:
                if instance.host != this_host():
                    self.remote[instance] = await asyncio.to_thread(HostStore().get, instance.host)  # a file
                if isinstance(place.ref, int):
                    self.indexes[instance] = place.ref
            # claim first: reconcile never frees a lock being taken
            await claim(self.claims, self.run_id, *(instance for _, instance in batch), launch_id=self.run_id)
            locks = await asyncio.gather(*(try_acquire(self.client, instance, holder=self.run_id)
                                           for _, instance in batch))
            held: list[tuple[Placement, InstanceId, InstanceLock]] = []
            for (place, instance), lock in zip(batch, locks, strict=True):
                if lock is None:
                    lock = await self.conflict(instance, self.definition.launch.on_conflict)
                    if lock is None:
                        await unclaim(self.claims, self.run_id, instance)
                        continue
                self.runtime.keeper.add(lock)
                held.append((place, instance, lock))
            ready = await asyncio.gather(*(self._ready(place, instance, lock) for place, instance, lock in held))
            self.acquired.extend((instance, lock) for (_, instance, lock), ok in zip(held, ready, strict=True) if ok)

    async def _ready(self, place: Placement, instance: InstanceId, lock: InstanceLock) -> bool:
        """Start a locked local instance and wait until it is ready (a remote one is started on its host, by its
        bot); ``False`` (lock dropped, error collected: digest §9.3 step 4) when it cannot be started."""
        if instance in self.remote:
            return True
        try:
            ready = await self.tasks.start(self.definition, place, self.definition.launch.emulator_timeout)
        except Exception as exc:  # noqa: BLE001 - collected, not fatal: the launch goes on with the other instances
            self.errors.append(f"instance {instance}: {exc}")
            self.logger.warning("instance %s not started: %s", instance, exc)
            await self.drop(lock)
            return False
        if ready.started:
            self.started.append((place, instance))
        return True

    async def stop_started(self) -> None:
        """``stop_instances: started``: stop the instances this launch started, once its bots are done.

        Each is locked again first: an instance another launch took meanwhile keeps running. Never raises: what
        was left running is logged.
        """
        if self.definition.launch.stop_instances != "started":
            return
        for place, instance in self.started:
            try:
                lock = await try_acquire(self.client, instance, holder=self.run_id)
            except Exception as exc:  # noqa: BLE001 - the launch's result stands; say what was left behind
                self.logger.warning("instance %s not stopped (lock not taken): %s", instance, exc)
                continue
            if lock is None:
                self.logger.info("instance %s is in use by another launch: left running", instance)
                continue
            try:
                await self.tasks.stop(self.definition, place)
                self.logger.info("stopped instance %s (this launch started it)", instance)
            except Exception as exc:  # noqa: BLE001 - the launch's result stands; say what was left behind
                self.logger.warning("instance %s not stopped: %s", instance, exc)
            finally:
                await release(self.client, lock)

    async def drop(self, lock: InstanceLock) -> None:
        """Give up a lock this launch took: stop renewing it, free its slot, release the claim."""
        self.runtime.keeper.discard(lock.instance)
        await release(self.client, lock)
        await unclaim(self.claims, self.run_id, lock.instance)

    async def conflict(self, instance: InstanceId, policy: OnConflict) -> InstanceLock | None:
        """``instance`` is locked by another run: apply ``policy``; the lock when it was taken after all."""
        self.conflicts.append(instance)
        others = await holders(self.client, self.claims, instance, exclude=[self.run_id])
        who = ", ".join(f"{r.name} ({r.id})" for r in others) or "a flow run that ended less than a minute ago"
        if any(is_debugger(run) for run in others):  # a person is stepping a routine there: never cancelled
            self.logger.warning("instance %s is held by a step debugger (%s): skipped", instance, who)
            self.skipped.append(instance)
            return None
        self.logger.warning("instance %s is locked by %s; on_conflict=%s", instance, who, policy.value)
        action = policy.value
        if policy is OnConflict.ASK:
            choice = await apause_flow_run(
                wait_for_input=ConflictChoice.with_initial_data(
                    description=f"Instance **{instance}** is in use by {who}. Skip it, cancel the other bot, "
                                "or abort this launch?", action="skip"),
                timeout=int(self.definition.launch.ask_timeout), poll_interval=1,
                key=artifact_key("conflict", instance.key))
            action = choice.action
            self.logger.info("operator chose %r for instance %s", action, instance)
        if action == "skip":
            self.skipped.append(instance)
            return None
        if action == "abort":
            raise InstanceConflictError(f"instance {instance} is locked by {who} (on_conflict: abort)")
        bots = [r for r in others if BOT_TAG in r.tags] or others
        for run in bots:
            await request_cancel(self.client, run.id, f"instance {instance} taken by launch {self.run_id} of group "
                                                      f"{self.definition.name!r} (on_conflict: cancel)")
        deadline = asyncio.get_running_loop().time() + self.definition.launch.emulator_timeout
        while asyncio.get_running_loop().time() < deadline:
            lock = await try_acquire(self.client, instance, holder=self.run_id)
            if lock is not None:
                return lock
            await asyncio.sleep(0.25)
        self.skipped.append(instance)
        self.errors.append(f"instance {instance}: still locked after cancelling {who}")
        return None
