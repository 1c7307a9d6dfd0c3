"""The console's step debugger sessions (docs/studio.md "Step debugger"): each one a
:class:`emufleet.debug.DebugSession` on one local instance, held as a bot holds it
(:func:`adapters.debugging.debug_hold`) for as long as the routine runs, driven by the API (``/api/debug``) and the
Debug page.

One :class:`Debuggers` per console (``app.state.debuggers``): it starts sessions, finds them by id, and stops every
one at shutdown. A session that ended stays readable (its last overlay, outcome and error) until :data:`KEEP`
newer ones replaced it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from adapters.logged import logged
from emufleet.control import ControlPlane
from emufleet.debug import Breakpoint, DebugSession
from emufleet.errors import InputError
from emufleet.hosts import InstanceId, this_host
from emufleet.hosts.identity import SERIAL_RULE, is_serial
from emufleet.routines import RoutineRegistry

__all__ = ["KEEP", "Debuggers", "Running"]

_log = logging.getLogger(__name__)

KEEP = 8


@dataclass
class Running:
    """One debugging session of the console: its id, the serial, the session, and the task holding the lock."""

    id: str
    serial: str
    session: DebugSession
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class Debuggers:
    """The console's debugging sessions (thread-unsafe: used from the event loop only)."""

    def __init__(self) -> None:
        self._sessions: dict[str, Running] = {}
        self._ids = itertools.count(1)

    def get(self, session_id: str) -> Running | None:
        return self._sessions.get(session_id)

    def all(self) -> list[Running]:
        return list(self._sessions.values())

    async def start(self, registry: RoutineRegistry, routine: str, serial: str, breakpoints: Sequence[str], *,
                    run: bool = False) -> Running:
        """Lock ``serial``'s instance (on this host), connect it and start debugging ``routine``; returns once the
        routine runs (paused on entry unless ``run``).

        Raises:
            InputError: a bad breakpoint, serial or routine. InstanceConflictError: a launch (or another debugger)
            holds the instance. DeviceError: the device cannot be reached. DatabaseError: claims cannot be written.
        """
        from adapters.debugging import debug_hold
        from emufleet.device import connect

        points = [Breakpoint.parse(text) for text in breakpoints if text.strip()]
        if not is_serial(serial):
            raise InputError(f"serial {serial[:40]!r}: {SERIAL_RULE}")
        if registry.find(routine) is None:
            raise InputError(f"routine {routine!r} is not a valid routine of the registry")
        instance = InstanceId(this_host(), serial)
        stack = contextlib.AsyncExitStack()  # released in reverse: the lock, then the database engine
        try:
            plane = await asyncio.to_thread(ControlPlane.connect)
            stack.callback(plane.engine.dispose)
            await stack.enter_async_context(debug_hold(plane.claims, instance, routine=routine))
            device = await asyncio.to_thread(connect, serial)
            session = DebugSession(registry, routine, device, breakpoints=points, stop_on_entry=not run)
        except BaseException:
            await stack.aclose()
            raise
        running = Running(str(next(self._ids)), serial, session)
        session.start()

        async def hold_until_done() -> None:
            async with stack:
                try:
                    await asyncio.to_thread(session.join)
                finally:
                    await asyncio.to_thread(session.close)

        running.task = asyncio.get_running_loop().create_task(hold_until_done(), name=f"debug-{running.id}")
        self._sessions[running.id] = running
        for old in list(self._sessions.values())[:-KEEP]:
            if old.task is not None and old.task.done():
                del self._sessions[old.id]
        return running

    async def close(self) -> None:
        """Stop every session and wait until each has released its instance (console shutdown)."""
        for running in self._sessions.values():
            running.session.stepper.stop()
        for running in self._sessions.values():
            if running.task is not None:
                with logged(_log, f"debug session {running.id}: ending at console shutdown"):
                    await running.task
