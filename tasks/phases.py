"""The launch phases as Prefect tasks, each one engine call (digest §9.3; seed ``000_…`` "Launch Sequence").

Phase 0 :func:`resolve_pools` (fail fast, naming the pool and the known ones), the optional
:func:`refresh_pools` (the seed's pre-launch refresh prompt, as an option), phase 1 :func:`validate_routine`
(routine, sub-routines, templates, config), :func:`check_instances` (``validate_emulators``: the backend knows
every instance), phase 2 :func:`start_instance` (emulator backend: start if needed and wait until ready).
Locking an instance is the flow's job (:mod:`adapters.locks`), before the instance is started — the seed reserved
it only after the wait, so two launches could plan the same instance (§9.3 race).

Retries only where a device or the database is touched (STYLE 9).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE

from adapters.locks import launch_guard
from emufleet.bot.assets import EngineAssets, load_assets
from emufleet.boundary import JsonObject
from emufleet.device.backends import EmulatorBackend, get_backend
from emufleet.errors import OrchestrationError, RoutineValidationError
from emufleet.groups import GroupDefinition
from emufleet.hosts import LOCAL_HOST, HostStore, InstanceId, Placement, this_host
from emufleet.pools import PoolDefinition
from emufleet.pools.registry import find_pool

__all__ = ["PoolSummary", "StartedInstance", "backend_of", "check_instances", "instance_of", "pool_definitions",
           "refresh_pools", "resolve_pools", "start_instance", "stop_instance", "validate_routine"]


GUARDED_BACKENDS = ("simulator", "mumu")  # backends with a launch_guard hook


@dataclass(frozen=True, slots=True)
class PoolSummary:
    """A resolved pool: name, definition file, and (after a refresh) its member count."""

    name: str
    file: str | None
    members: int | None = None


def pool_definitions(names: list[str]) -> list[PoolDefinition]:
    """The pool definitions named ``names`` (name, file stem or path), in order; ``PoolValidationError`` if not."""
    return [find_pool(name) for name in names]


@task(name="resolve-pools", cache_policy=NO_CACHE, persist_result=False)
def resolve_pools(names: list[str]) -> list[PoolSummary]:
    """Phase 0: load every pool definition of the group, in order.

    Raises:
        PoolValidationError: a pool file is invalid, or no pool has that name (the known ones are listed).
    """
    definitions = pool_definitions(names)
    _log_freshness(definitions)
    return [PoolSummary(d.name, str(d.file) if d.file else None) for d in definitions]


def _log_freshness(definitions: list[PoolDefinition]) -> None:
    """Say in the launch's logs when each pool was last refreshed (seed ``001_…`` pre-launch refresh prompt)."""
    from prefect import get_run_logger

    from emufleet import db
    from emufleet.pools import describe_freshness, last_refreshed

    logger = get_run_logger()
    try:
        eng = db.engine()
        try:
            db.require_schema(eng)
            for d in definitions:
                logger.info("%s", describe_freshness(d.name, last_refreshed(eng, d.name), d.config.refresh_interval))
        finally:
            eng.dispose()
    except Exception as exc:  # noqa: BLE001 - words for the log only; the launch reports database trouble itself
        logger.warning("could not read when the pools were last refreshed: %s", exc)


@task(name="refresh-pools", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
def refresh_pools(names: list[str], database_url: str | None = None) -> list[PoolSummary]:
    """Re-resolve the pools' membership now (digest §5.4): queries, includes, watched folders of XML files."""
    from emufleet import db
    from emufleet.pools import Pool
    from emufleet.pools.leases import LeaseOwner

    eng = db.engine(database_url)
    try:
        db.require_schema(eng)
        out = []
        for definition in pool_definitions(names):
            report = Pool(definition, eng, LeaseOwner("refresh")).refresh()
            out.append(PoolSummary(definition.name, str(definition.file) if definition.file else None,
                                   report.members))
        return out
    finally:
        eng.dispose()


@task(name="validate-routine", cache_policy=NO_CACHE, persist_result=False)
def validate_routine(routine: str, routine_config: dict[str, str], *, validate_templates: bool = True) -> EngineAssets:
    """Phase 1: the routine, its sub-routines and sentries load, reference registered templates, and the
    config values fit: every ``required`` param without a default gets a value (the seed's
    ``missing_variable``), every given value fits its param (``invalid_config``) — for the routine from the
    group's ``routine_config``, for the routines it calls from their ``RunRoutine`` config.

    Raises:
        RoutineValidationError: located ``file:line:col`` error of the routine (or of a sub-routine); for config
            problems, all of them in one message, one per line.
        RoutineError: no routine has this key.
        TemplateRegistryError: the template set itself is broken.
    """
    from emufleet.routines.configcheck import check_config

    assets = load_assets(validate_templates=validate_templates)
    # The bot session gives sub-routines the group's routine_config too (BotContext.group_config): check alike.
    problems = check_config(assets.registry, routine, routine_config, group_config=routine_config)
    if problems:  # one error located at the first problem; the others follow it, one per line, located too
        first, rest = problems[0], problems[1:]
        raise RoutineValidationError("\n".join([first.message, *map(str, rest)]), file=first.file,
                                     line=first.line, col=first.col, field=first.field)
    return assets


def backend_of(group: GroupDefinition, host: str) -> tuple[str, JsonObject]:
    """The emulator backend and options driving ``host``'s instances for ``group`` (:meth:`Host.backend_for`).

    Raises:
        HostValidationError: no such host (or its file is broken).
    """
    return HostStore().get(host).backend_for(group.backend, group.backend_options)


def instance_of(group: GroupDefinition, place: Placement) -> InstanceId:
    """The instance a group names: its host (``local`` is this process's, :func:`this_host`), and the serial (an
    index through that host's backend, or as written).

    Raises:
        HostValidationError: the placement's host is not defined.
    """
    host = this_host() if place.host == LOCAL_HOST else place.host
    if isinstance(place.ref, str):
        HostStore().get(host)  # an unknown host is an error even for a serial
        return InstanceId(host, place.ref)
    backend, options = backend_of(group, host)
    return InstanceId(host, get_backend(backend, **options).serial(place.ref))


@task(name="check-instances", cache_policy=NO_CACHE, persist_result=False)
def check_instances(group: GroupDefinition, host: str = LOCAL_HOST) -> dict[str, str]:
    """``validate_emulators``: every instance of the group on ``host`` is known to that host's backend; returns
    ``<host>/<serial>`` → state. (A host's backend can only be asked on that host.)

    Raises:
        OrchestrationError: instances the backend does not know (all listed), or the backend cannot list them.
    """
    places = [p for p in group.placements() if (this_host() if p.host == LOCAL_HOST else p.host) == host]
    name, options = backend_of(group, host)
    indexes = [p.ref for p in places if isinstance(p.ref, int)]
    known = {info.index: info for info in get_backend(name, **options).list_instances()} if indexes else {}
    unknown = [ref for ref in indexes if ref not in known]
    if unknown:
        have = ", ".join(str(i) for i in sorted(known)) or "none"
        raise OrchestrationError(f"backend {name!r} of host {host!r} has no instance "
                                 f"{', '.join(map(str, unknown))} (it has: {have})")
    states = {}
    for place in places:
        if isinstance(place.ref, int):
            info = known[place.ref]
            states[InstanceId(host, info.serial).key] = "running" if info.running else "stopped (will be started)"
        else:
            states[InstanceId(host, place.ref).key] = "given by serial (connect only)"
    return states


@dataclass(frozen=True, slots=True)
class StartedInstance:
    """An instance phase 2 made ready: its serial, and whether this launch had to start it (``started``)."""

    serial: str
    started: bool


@task(name="start-instance", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE, persist_result=False)
async def start_instance(group: GroupDefinition, place: Placement, timeout_s: float) -> StartedInstance:
    """Phase 2: start instance ``place`` through its host's backend if needed, and wait until it is ready (on the
    host itself: a host's instances are only reachable there).

    A serial (not an index) is connected and waited for, whatever the backend (never "started" by us).

    Raises:
        DeviceTimeoutError: not ready within ``timeout_s``; DeviceError: the backend cannot start it.
    """
    ref = place.ref

    def start() -> StartedInstance:
        if isinstance(ref, str):  # a serial: connect-only, whatever the group's backend
            return StartedInstance(get_backend("adb", serials=[ref]).start(0, timeout_s).serial, False)
        backend = _backend(group, place.host)
        was_running = backend.is_running(ref)
        return StartedInstance(backend.start(ref, timeout_s).serial, not was_running)

    return await asyncio.to_thread(start)


@task(name="stop-instance", cache_policy=NO_CACHE, persist_result=False)
async def stop_instance(group: GroupDefinition, place: Placement) -> None:
    """Stop instance ``place`` (an index) through its host's backend: the end of a launch that started it.

    Raises:
        DeviceError: the backend cannot stop it.
    """
    if isinstance(place.ref, int):
        await asyncio.to_thread(_backend(group, place.host).stop, place.ref)


def _backend(group: GroupDefinition, host: str) -> EmulatorBackend:
    name, options = backend_of(group, this_host() if host == LOCAL_HOST else host)
    if name in GUARDED_BACKENDS:  # they start emulator processes: one launch request at a time
        options.setdefault("launch_guard", launch_guard)
    return get_backend(name, **options)
