"""A bot as plain data: what it plays where (:class:`BotSpec`, also the ``run-bot`` flow's parameter). How it runs
and ended is its :class:`~emufleet.groups.status.BotStatus`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import BaseModel, Field

from emufleet.bot.health import HealthSettings
from emufleet.bot.recovery import RecoverySettings
from emufleet.groups.definition import InstanceCheck, RestartPolicy
from emufleet.groups.quarantine import QuarantineSettings
from emufleet.groups.record import RecordSettings
from emufleet.groups.schedule import Schedule
from emufleet.hosts import InstanceId

__all__ = ["BotSpec"]


class BotSpec(BaseModel):
    """Everything one bot needs, as plain data (a flow-run parameter: the Prefect UI renders it as a form).

    ``backend``/``backend_options``/``instance_index``: how to restart the instance (rung ``restart_instance``);
    without them the instance is rebooted over ADB. ``lock_lease_id``: the instance lock ``launch_group`` took for
    this bot (``None``: the bot takes it itself). ``launch_run_id``: the launch of a bot started on another host's
    worker (``run-bot`` deployment), whose cancellation and pause commands that bot follows like an in-process one.
    """

    group: str
    bot: int = Field(ge=0)
    instance: InstanceId  # "<host>/<serial>", or a bare serial on host "local"
    routine: str
    routine_config: dict[str, str] = Field(default_factory=dict)
    pools: list[str] = Field(default_factory=list)
    restart_policy: RestartPolicy = RestartPolicy()
    recovery: RecoverySettings = RecoverySettings()
    health: HealthSettings = HealthSettings()
    record: RecordSettings = RecordSettings()  # the flight recorder (emufleet.sessions.flight)
    repeat: bool = False
    connect_timeout_s: float = Field(default=60.0, gt=0)
    validate_templates: bool = True
    backend: str | None = None
    backend_options: dict[str, Any] = Field(default_factory=dict)
    instance_index: int | None = Field(default=None, ge=0)
    lock_lease_id: UUID | None = None
    launch_run_id: UUID | None = None  # set when dispatched to another host: that bot follows its launch's commands
    database_url: str | None = None
    instance_check: InstanceCheck = InstanceCheck()  # checked when the device opens (docs/farm.md)
    schedule: Schedule | None = None  # no account taken outside its windows or near their end (docs/farm.md)
    quarantine: QuarantineSettings = QuarantineSettings()  # the group's quarantine rule (docs/farm.md)
