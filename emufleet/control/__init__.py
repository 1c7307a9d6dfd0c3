"""The control plane of running launches, in emufleet's database: operator commands and instance claims.

Several writers meet here (the CLI, the console, deployments, the launch processes of every host), so every write
is one statement or one short transaction whose outcome the database decides — never a read, a change in memory
and a write back (what a Prefect Variable or a flow run's tags would need)::

    from emufleet import db
    from emufleet.control import CommandKind, CommandStore, ClaimStore
    commands = CommandStore(db.engine())
    commands.open(launch_id)                                  # the launch, before its bots start
    commands.send(launch_id, CommandKind.PAUSE, bot=2)        # any process: Command(seq=1, …)
    commands.take(launch_id, bot=2)                           # the bot's watcher: [Command(seq=1, …)], once

* :class:`CommandStore` — each launch's commands are numbered 1, 2, … in the order they were sent; each bot takes
  the ones meant for it (its own and the launch-wide ones) exactly once, in order, by moving its cursor with a
  compare-and-set ``UPDATE``.
* :class:`ClaimStore` — which flow runs claim an instance (written before its lock slot is taken). The lock
  itself stays a Prefect concurrency-limit lease, and whether a claimer is alive stays the Prefect server's answer.
"""

from __future__ import annotations

from emufleet.control.claims import ClaimStore
from emufleet.control.commands import Command, CommandKind, CommandStore
from emufleet.control.plane import ControlPlane

__all__ = ["ClaimStore", "Command", "CommandKind", "CommandStore", "ControlPlane"]
