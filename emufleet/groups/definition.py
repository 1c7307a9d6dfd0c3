"""Group definitions: the saved blueprint of a bot group (digest §9.2; seed ``002_…`` ``BotGroupDefinition``).

A definition says *what a group should do*; a running group is a Prefect flow run of ``launch_group`` and lives
only there (seed ``002_…``: definition ≠ runtime group). Example (``groups/demo.yaml``)::

    version: 1
    name: demo
    description: Four bots cycling through the sample accounts
    routine: demo/account_cycle          # routine registry key, without .yaml (digest §9.2 docs defect)
    routine_config: {packs: "1"}         # variable overrides, merged over the routine's config (§11.2 #1 fixed)
    backend: simulator                   # emulator backend: simulator | adb | mumu
    backend_options: {}
    instances: [0, 1, 2, 3]              # preference order: indexes or serials on `host`, "hostb/2",
                                         # or {host: hostb, instance: 2} (hosts/*.yaml; docs/orchestration.md)
    bots: 4                              # 1..len(instances)
    pools: [demo]                        # account pools, tried in order
    launch:
      validate_routine: true
      validate_templates: true
      validate_emulators: true
      refresh_pools: false               # the seed's pre-launch refresh prompt, as an option
      repeat: true                       # after a success, play again with the next account until none is left
      on_conflict: skip                  # skip | abort | cancel | ask
      stagger: 2s
      emulator_timeout: 60s
      restart_policy: {mode: on_failure, max_restarts: 3, initial_delay: 1s, max_delay: 30s, backoff_factor: 2}
      instance_check: {enabled: true, fix: true, density: 240, package: jp.pokemon.pokemontcgp, min_version: "1.0"}
    recovery:                            # supervision (docs/supervision.md); every key optional
      routine: recovery/go_home          # rung 1; then restart_app, restart_instance, reconnect
      stuck_after: 60s
      budget: {failures: 3, window: 10m}
    health: {interval: 10s}
    schedule:                            # daily windows and the game's reset (docs/farm.md); optional
      timezone: Europe/Paris
      windows: ["06:30-12:00", "18:00-02:00"]
      daily_reset: "06:00"
      margin: 10m
    quarantine: {window: 1h, factor: 3, min_count: 3, cooldown: 15m}   # the farm's rule (docs/farm.md)
    record: {seconds: 2m}                # each bot's flight recorder (docs/sessions.md); on by default

Durations accept ``500ms``, ``2s``, ``5m``, ``1h`` or a bare number of seconds; parsed values are seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from emufleet.boundary import JsonObject, YamlValue
from emufleet.durations import MAX_DURATION_S, DurationS0
from emufleet.errors import GroupValidationError
from emufleet.groups.quarantine import QuarantineSettings
from emufleet.groups.record import RecordSettings
from emufleet.groups.schedule import Schedule
from emufleet.groups.supervision import HealthSettings, RecoverySettings
from emufleet.hosts.identity import LOCAL_HOST, Placement, check_host_name, parse_placement
from emufleet.validation import raise_validation

__all__ = [
    "GroupDefinition",
    "HostedInstance",
    "InstanceCheck",
    "InstanceRef",
    "LaunchOptions",
    "LaunchOverrides",
    "OnConflict",
    "RestartMode",
    "RestartPolicy",
    "check_group_name",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


def check_group_name(name: str) -> str:
    """``name`` if it is a group name: 1–64 letters, digits, spaces, ``.``, ``_`` or ``-``, starting with a letter or
    digit (so never a path: no ``/``, no ``..`` prefix).

    Raises:
        ValueError: it is not.
    """
    if not _NAME.match(name):
        raise ValueError("use 1–64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit")
    return name


class HostedInstance(BaseModel):
    """``{host: hostb, instance: 3}``: an instance (index or serial) on a named host."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    instance: int | str = Field(union_mode="left_to_right")

    def __str__(self) -> str:
        """The string form a definition may use instead: ``hostb/3``, ``hostb/127.0.0.1:16384``."""
        return f"{self.host}/{self.instance}"


#: An instance: its index in the emulator backend (``int ≥ 0``), its adb serial (``"127.0.0.1:16384"``), either on
#: a named host (``"hostb/3"``, ``"hostb/127.0.0.1:16384"``), or ``{host: hostb, instance: 3}``.
InstanceRef = Annotated[int | str | HostedInstance, Field(union_mode="left_to_right")]


class OnConflict(StrEnum):
    """What to do when a wanted instance is locked by another flow run (digest §9.3 phase 2)."""

    SKIP = "skip"      # move on to the next instance of the preference list
    ABORT = "abort"    # fail the launch (InstanceConflictError)
    CANCEL = "cancel"  # cancel the other run's bot on that instance, then take it
    ASK = "ask"        # pause the launch flow run; the operator chooses in the Prefect UI


class RestartMode(StrEnum):
    """When a bot's routine is started again (digest §9.4; seed ``000_…`` restart policies)."""

    NEVER = "never"
    ON_FAILURE = "on_failure"
    ALWAYS = "always"  # also after a successful run, until the cap or the pool runs dry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RestartPolicy(_Strict):
    """Restart policy of every bot of a group.

    A *restart* is a new run of the routine that the policy causes: after a failure (``on_failure``,
    ``always``) or after a success (``always``). ``max_restarts`` caps them per bot and launch (0 = never
    restarted); the delay before restart *n* (1-based) is ``min(initial_delay · backoff_factor^(n−1),
    max_delay)`` seconds. Re-runs asked by ``launch.repeat`` (next account after a success) are not restarts.
    A bot whose pools ran dry ends as completed and is never restarted. The seed's loop slept through a stop
    (§9.4 defect); ours wakes on stop and cancellation.
    """

    mode: RestartMode = RestartMode.ON_FAILURE
    max_restarts: int = Field(default=5, ge=0, le=1000)
    initial_delay: DurationS0 = 10.0
    max_delay: DurationS0 = 300.0
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)

    @model_validator(mode="after")
    def _delays(self) -> RestartPolicy:
        if self.initial_delay > self.max_delay:
            raise ValueError("initial_delay must not exceed max_delay")
        return self

    def delay_s(self, restart: int) -> float:
        """Seconds to wait before restart number ``restart`` (1-based)."""
        if restart < 1:
            raise ValueError("restart numbers start at 1")
        return min(self.initial_delay * self.backoff_factor ** (restart - 1), self.max_delay)

    def should_restart(self, *, succeeded: bool, restarts_done: int) -> bool:
        """Whether to start the routine again after an attempt that ``succeeded`` (or failed)."""
        if restarts_done >= self.max_restarts or self.mode is RestartMode.NEVER:
            return False
        return self.mode is RestartMode.ALWAYS or not succeeded


class InstanceCheck(_Strict):
    """What a bot checks on its instance before driving it (docs/farm.md, "Instance settings"): the resolution the
    template set needs always (when ``enabled``), the ``density`` and the game at ``min_version`` when given; with
    ``fix``, a wrong resolution or density is set with ``wm`` (emulators), else the instance is refused."""

    enabled: bool = True
    fix: bool = True
    density: int | None = Field(default=None, ge=72, le=1000)
    package: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
    min_version: str | None = Field(default=None, pattern=r"^[0-9A-Za-z._-]{1,40}$")


class HealSettings(_Strict):
    """When a ``repeat`` launch starts a new bot on an instance whose bot failed (docs/farm.md, "Healing"): after
    ``cooldown`` seconds, if the launch still runs, the instance is not quarantined and it passes a health check;
    at most ``max_per_instance`` times per instance and launch (0: never)."""

    cooldown: DurationS0 = Field(default=900.0, ge=0, le=86400)
    max_per_instance: int = Field(default=2, ge=0, le=100)


class LaunchOptions(_Strict):
    """How a group is launched (digest §9.2 ``launch_options``; every option is live, unlike the seed's)."""

    validate_routine: bool = True
    validate_templates: bool = True
    validate_emulators: bool = True
    refresh_pools: bool = False
    repeat: bool = False  # run the routine again after each success, until the pools have no free account
    on_conflict: OnConflict = OnConflict.SKIP
    ask_timeout: DurationS0 = Field(default=3600.0, gt=0)
    stagger: DurationS0 = 5.0
    emulator_timeout: DurationS0 = Field(default=60.0, gt=0)
    restart_policy: RestartPolicy = RestartPolicy()
    # "started": when its bots are done, the launch stops the instances it had to start (the machine is left as it
    # was found); "never": they keep running (a warm MuMu instance saves its boot next time).
    stop_instances: Literal["started", "never"] = "started"
    instance_check: InstanceCheck = InstanceCheck()  # resolution, density, game version before a bot starts
    heal: HealSettings = HealSettings()  # a new bot on an instance whose bot failed, after a cool-down


class GroupDefinition(_Strict):
    """A saved group: routine, instances, bot count, pools, launch options (digest §9.2).

    Raises (through :func:`emufleet.groups.load_group`): ``GroupValidationError`` located at the bad node.
    """

    version: Literal[1] = 1
    name: str
    description: str = ""
    routine: str = Field(min_length=1)
    routine_config: dict[str, str] = Field(default_factory=dict)
    backend: str = "adb"
    backend_options: JsonObject = Field(default_factory=dict)
    host: str = LOCAL_HOST  # the host of instances written without one
    instances: list[InstanceRef] = Field(min_length=1)
    bots: int = Field(ge=1, le=10**4)
    pools: list[str] = Field(default_factory=list)
    max_accounts: int | None = Field(default=None, ge=1, le=10**9)
    launch: LaunchOptions = LaunchOptions()
    recovery: RecoverySettings = RecoverySettings()  # the ladder, stuck detection, budget (docs/supervision.md)
    health: HealthSettings = HealthSettings()  # periodic health checks of each instance
    schedule: Schedule | None = None  # daily windows and the game's reset (docs/farm.md)
    quarantine: QuarantineSettings = QuarantineSettings()  # when an instance or account is taken out of service
    record: RecordSettings = RecordSettings()  # each bot's flight recorder (docs/sessions.md)
    tags: list[str] = Field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_group_name(value)

    @field_validator("routine")
    @classmethod
    def _routine(cls, value: str) -> str:
        if value.endswith((".yaml", ".yml")):
            raise ValueError("a routine key has no extension (write 'farming/main_loop', not '….yaml')")
        return value

    @field_validator("routine_config", mode="before")
    @classmethod
    def _config_strings(cls, value: YamlValue) -> YamlValue:
        # Variables are strings in the routine engine (digest §2.2); accept YAML numbers/booleans as written.
        # Lists and mappings are left for pydantic to refuse: stringifying them would hide a mistake.
        if isinstance(value, dict):
            return {k: (str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, int | float) else v)
                    for k, v in value.items()}
        return value

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        return check_host_name(value)

    @field_validator("instances")
    @classmethod
    def _instances(cls, value: list[InstanceRef], info: ValidationInfo) -> list[InstanceRef]:
        seen: set[Placement] = set()
        for item in value:  # shape, index, serial, host name; `host` is validated first (field order)
            place = _placement(item, info.data.get("host", LOCAL_HOST))
            if place in seen:
                raise ValueError(f"instance {place} is listed twice")
            seen.add(place)
        return value

    def placements(self) -> list[Placement]:
        """The instances in preference order, each with its host (``host`` for those written without one)."""
        return [_placement(item, self.host) for item in self.instances]

    @field_validator("pools")
    @classmethod
    def _pools(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a pool is listed twice")
        return value

    @model_validator(mode="after")
    def _bot_count(self) -> GroupDefinition:
        if self.bots > len(self.instances):
            raise ValueError(f"bots ({self.bots}) exceeds the number of instances ({len(self.instances)})")
        return self

    def with_overrides(self, overrides: LaunchOverrides | None) -> GroupDefinition:
        """A validated copy with ``overrides`` applied (digest §9.9; ``routine_config`` is merged, not replaced).

        Raises:
            GroupValidationError: the result is not a valid definition (``file`` reads ``group <name> with
                overrides``, ``field`` is the offending field).
        """
        if overrides is None:
            return self
        data = self.model_dump()
        launch = data["launch"]
        if overrides.bots is not None:
            data["bots"] = overrides.bots
        if overrides.instances is not None:
            data["instances"] = list(overrides.instances)
            if overrides.bots is None:
                data["bots"] = min(self.bots, len(overrides.instances))
        if overrides.pools is not None:
            data["pools"] = list(overrides.pools)
        if overrides.routine_config:
            data["routine_config"] = {**self.routine_config, **overrides.routine_config}
        if overrides.max_accounts is not None:
            data["max_accounts"] = overrides.max_accounts
        if overrides.backend is not None and overrides.backend != self.backend:
            data["backend"] = overrides.backend  # another backend: the definition's options do not apply
            data["backend_options"] = dict(overrides.backend_options or {})
        elif overrides.backend_options:
            data["backend_options"] = {**self.backend_options, **overrides.backend_options}
        for key in ("on_conflict", "stagger", "emulator_timeout", "refresh_pools"):
            value = getattr(overrides, key)
            if value is not None:
                launch[key] = value
        if overrides.restart_policy is not None:
            launch["restart_policy"] = overrides.restart_policy.model_dump()
        try:
            return GroupDefinition.model_validate(data)
        except ValidationError as exc:
            raise_validation(exc, data, f"group {self.name} with overrides", error=GroupValidationError)

    def stamped(self, *, now: datetime | None = None) -> GroupDefinition:
        """A copy with ``updated_at`` (and ``created_at`` when unset) set to ``now`` (UTC)."""
        now = now or datetime.now(UTC).replace(microsecond=0)
        return self.model_copy(update={"created_at": self.created_at or now, "updated_at": now})


def _placement(item: InstanceRef, default_host: str) -> Placement:
    return parse_placement(item.model_dump() if isinstance(item, HostedInstance) else item, default_host=default_host)


class LaunchOverrides(BaseModel):
    """Per-launch changes to a definition (digest §9.9); ``None`` keeps the definition's value.

    This is the ``overrides`` parameter of the ``launch_group`` flow, rendered as a form by the Prefect UI.
    """

    model_config = ConfigDict(extra="forbid")

    bots: int | None = Field(default=None, ge=1, le=10**4, description="number of bots to start")
    instances: list[InstanceRef] | None = Field(default=None, description="instance indexes or serials, in order "
                                                "(\"hostb/2\" or {host, instance} for another host)")
    pools: list[str] | None = Field(default=None, description="account pools, in order")
    routine_config: dict[str, str] = Field(default_factory=dict, description="merged over the definition's")
    max_accounts: int | None = Field(default=None, ge=1, le=10**9, description="stop leasing after this many accounts")
    on_conflict: OnConflict | None = None
    stagger: float | None = Field(default=None, ge=0, le=MAX_DURATION_S, allow_inf_nan=False,
                                  description="seconds between bot starts")
    emulator_timeout: float | None = Field(default=None, gt=0, le=MAX_DURATION_S, allow_inf_nan=False,
                                           description="seconds to wait for an instance")
    refresh_pools: bool | None = Field(default=None, description="refresh the pools before launching")
    restart_policy: RestartPolicy | None = None
    backend: str | None = Field(default=None, description="emulator backend: simulator | adb | mumu")
    backend_options: JsonObject | None = Field(default=None, description="merged over the definition's")

    @classmethod
    def parse(cls, values: JsonObject, *, group: str) -> LaunchOverrides:
        """Overrides a person gave for a launch of ``group`` (the CLI's options, the console's launch dialog).

        Raises:
            GroupValidationError: each refused value, named ``group <group> with overrides: <field>: <message>``.
        """
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise_validation(exc, values, f"group {group} with overrides", error=GroupValidationError)
