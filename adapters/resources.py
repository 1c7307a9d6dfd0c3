"""The launch's side of resource-aware running (:mod:`emufleet.resources`): its host's monitor while the bots run,
the gate each local bot passes before it starts, the bots shed when the host has no room, and degraded mode made
visible as Prefect events and as the host's load file (exported by the console's ``/metrics``).

* :meth:`LaunchLoad.admit` waits (at most the host's ``resources.wait_for_room_s``) until the host is under its
  thresholds; once a wait runs out, that bot and every later one of the launch are shed at once, each with the
  reason (``host saturated for 60 s: CPU 97 % > 90 %``) and an ``emufleet.launch.shed`` event; the launch puts the
  reason in its table's ``error`` column.
* Degraded mode entered and left are ``emufleet.host.degraded`` / ``emufleet.host.recovered`` events (resource
  ``emufleet.host.<name>``; payload CPU, memory, capture latency and the reason); the bots of this process slow
  their captures meanwhile (:class:`~emufleet.resources.CapturePacer`, from :attr:`LaunchLoad.monitor`).
* The monitor's state is written to ``<state>/system/load-<host>.json`` every second while the launch runs
  (:mod:`emufleet.resources.loadfile`); the console exports it as the ``emufleet_host_*`` metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import Callable
from types import TracebackType
from uuid import UUID

from prefect.events import emit_event

from emufleet.boundary import JsonObject
from emufleet.hosts import Host, InstanceId
from emufleet.resources import HostMonitor, LoadChange, LoadSample
from emufleet.resources.loadfile import write_load
from emufleet.resources.settings import effective

__all__ = ["LaunchLoad", "host_resource_id"]

logger = logging.getLogger("emufleet.resources")


def host_resource_id(host: str) -> str:
    """``emufleet.host.<name>``: the resource of a host's load events."""
    return f"emufleet.host.{host}"


def _payload(sample: LoadSample) -> JsonObject:
    return {"cpu_percent": round(sample.cpu_percent, 1), "memory_percent": round(sample.memory_percent, 1),
            "capture_ms": None if sample.capture_ms is None else round(sample.capture_ms, 1)}


class LaunchLoad:
    """One launch's load gate and degraded mode on ``host`` (this process's host); an async context manager that
    samples while it is open."""

    def __init__(self, host: Host, group: str, run_id: UUID) -> None:
        self.host = host
        self.group = group
        self.run_id = run_id
        settings = effective(host.resources, host.resources.model_fields_set)
        self.monitor = HostMonitor(settings, on_change=self._changed)
        self.shed: dict[int, str] = {}  # bot index → why it was shed
        self.waited_s = 0.0  # seconds bots waited for room, summed
        self._shedding: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context: contextvars.Context | None = None
        self._writer: asyncio.Task[None] | None = None

    def retune(self, host: Host) -> None:
        """Take an edited definition of the host (hot reload of ``hosts/``): its thresholds apply from the next
        sample on (the gate of the bots still to start, degraded mode)."""
        self.host = host
        self.monitor.settings = effective(host.resources, host.resources.model_fields_set)

    async def __aenter__(self) -> LaunchLoad:
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()  # the flow's Prefect settings, for the events it emits
        self.monitor.start()
        self._writer = self._loop.create_task(self._write_every_second())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
        self.monitor.stop()
        await asyncio.to_thread(self._write)  # a file write: off the loop

    async def admit(self, bot: int, instance: InstanceId, cancelled: Callable[[], bool]) -> str | None:
        """``None`` when bot ``bot`` may start now (after waiting for room if needed), else why it is shed."""
        if self._shedding is None:
            began = time.monotonic()
            reason = await self.monitor.wait_for_room_async(cancelled=cancelled)
            self.waited_s += time.monotonic() - began
            if reason is None or reason == "cancelled":
                return reason
            self._shedding = reason
        self.shed[bot] = self._shedding
        logger.warning("bot %d (%s) shed: %s", bot, instance.key, self._shedding)
        self._emit("emufleet.launch.shed", {"bot": bot, "instance": instance.key, "reason": self._shedding,
                                            "group": self.group, "launch_run_id": str(self.run_id)})
        return self._shedding

    def _changed(self, change: LoadChange) -> None:
        """On the sampling thread: hand the event to the launch's loop (its Prefect settings context)."""
        name = "emufleet.host.degraded" if change.degraded else "emufleet.host.recovered"
        payload = {**_payload(change.sample), "reason": change.reason, "group": self.group}
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._emit, name, payload, context=self._context)

    def _emit(self, name: str, payload: JsonObject) -> None:
        try:
            emit_event(event=name, resource={"prefect.resource.id": host_resource_id(self.host.name),
                                             "prefect.resource.name": self.host.name},
                       related=[{"prefect.resource.id": f"prefect.flow-run.{self.run_id}",
                                 "prefect.resource.role": "flow-run"},
                                {"prefect.resource.id": f"emufleet.group.{self.group}",
                                 "prefect.resource.role": "group"}],
                       payload=payload)
        except Exception as exc:  # an event never fails a launch (as adapters.events.emit)
            logger.warning("event %s not emitted: %s", name, exc)
        logger.info("%s: %s", name, payload)

    async def _write_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            await asyncio.to_thread(self._write)

    def _write(self) -> None:
        sample = self.monitor.sample
        if sample is None:
            return
        write_load(self.host.name, {**_payload(sample), "degraded": self.monitor.degraded,
                                    "degraded_s": round(self.monitor.degraded_s, 1),
                                    "changes": len(self.monitor.changes), "shed": len(self.shed),
                                    "waited_s": round(self.waited_s, 1)})
