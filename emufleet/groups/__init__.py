"""Bot group definitions (digest §9.2, seed ``002_…``): the saved blueprint, separate from a running group.

The engine part of orchestration: pydantic models of the group YAML, the folder of definitions, the restart
policy arithmetic and the bot status record. Running a group is the Prefect layer's job (``flows/``); nothing
here imports Prefect.

Example::

    from emufleet.groups import GroupStore, LaunchOverrides
    group = GroupStore().get("demo").with_overrides(LaunchOverrides(bots=2))
"""

from emufleet.groups.definition import (
    GroupDefinition,
    HealSettings,
    HostedInstance,
    InstanceCheck,
    InstanceRef,
    LaunchOptions,
    LaunchOverrides,
    OnConflict,
    RestartMode,
    RestartPolicy,
)
from emufleet.groups.status import TERMINAL_STATES, BotState, BotStatus
from emufleet.groups.store import GroupListing, GroupStore, file_name, load_group
from emufleet.groups.supervision import HealthSettings, RecoverySettings, Rung

__all__ = [
    "TERMINAL_STATES",
    "BotState",
    "BotStatus",
    "GroupDefinition",
    "GroupListing",
    "GroupStore",
    "HealSettings",
    "HealthSettings",
    "HostedInstance",
    "InstanceCheck",
    "InstanceRef",
    "LaunchOptions",
    "LaunchOverrides",
    "OnConflict",
    "RecoverySettings",
    "RestartMode",
    "RestartPolicy",
    "Rung",
    "file_name",
    "load_group",
]
