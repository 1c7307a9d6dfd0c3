"""``emufleet routines validate|list|run``: check routine files, list them, run one on a device."""

from __future__ import annotations

import signal
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import printable

if TYPE_CHECKING:
    from emufleet.bot import BotAccounts, BotEvent
    from emufleet.errors import TemplateRegistryError
    from emufleet.groups import BotStatus
    from emufleet.routines import RoutineRegistry, StepEvent
    from emufleet.sessions.attach import BotRecording
    from emufleet.sessions.recording import SessionWriter
    from emufleet.vision import TemplateSet

__all__ = ["register"]

TemplatesOpt = Annotated[Path | None, typer.Option(
    "--templates", help="Template set: a registry YAML, a folder of them, or a seed templates folder "
                        "(e.g. ../shared/seed-assets/templates). Default: the project's templates/.")]
RootOpt = Annotated[Path | None, typer.Option(
    "--routines-root", help="Folder the registry keys are relative to. Default: the nearest routines/ folder "
                            "above each path (the project's routines/ for list and run).")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(printable(message), err=True)
    return typer.Exit(code)


def config_overrides(items: list[str] | None) -> dict[str, str]:
    """``--set key=value`` options as a dict; a malformed one exits 1 saying which."""
    overrides = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--set {item!r}: expected key=value")
        overrides[key.strip()] = value
    return overrides


def _root_of(path: Path) -> Path:
    """The nearest folder named ``routines`` at or above ``path``, else the folder of ``path``."""
    path = path.resolve()
    for candidate in (path, *path.parents):
        if candidate.name == "routines" and candidate.is_dir():
            return candidate
    return path if path.is_dir() else path.parent


def _files(path: Path) -> list[Path]:
    """The routine files ``path`` names (a folder: its ``*.yaml``/``*.yml``, non-regular ones skipped with a
    warning). Raises ``RoutineValidationError`` for a named file that is not a regular ``*.yaml``/``*.yml``: what
    the registry would never read is never reported valid."""
    from emufleet.datafiles import YAML_SUFFIXES, describe_kind, list_data_files
    from emufleet.errors import RoutineValidationError

    if path.is_dir():
        return [p.resolve() for p in list_data_files(path, YAML_SUFFIXES, recursive=True,
                                                     error=RoutineValidationError)]
    if path.suffix.lower() not in YAML_SUFFIXES:
        raise RoutineValidationError("not a routine file (*.yaml or *.yml)", file=path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise RoutineValidationError(f"{describe_kind(mode)}, not a regular file", file=path)
    return [path.resolve()]


def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Routine files or folders (default: routines/).")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
) -> None:
    """Validate routine files: one line per error (file:line:col: field: message); exit 1 on any error."""
    from emufleet.errors import EmufleetError, RoutineValidationError
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir
    from emufleet.vision import load_templates

    template_errors: list[TemplateRegistryError] = []
    try:
        ts = load_templates(templates, errors=template_errors)
    except EmufleetError as exc:
        raise _fail(f"templates: {exc}") from None
    for err in template_errors:  # the routines are still checked against the templates that did load
        typer.echo(printable(f"templates: {err}"))
    wanted: dict[Path, set[Path]] = {}
    errors, checked = len(template_errors), 0
    for path in paths or [data_dir("routines")]:
        if not path.exists():
            raise _fail(f"{path}: no such file or folder")
        try:
            named = _files(path)
        except RoutineValidationError as exc:
            typer.echo(printable(exc))
            errors += 1
            continue
        for file in named:
            root = routines_root.resolve() if routines_root else _root_of(path)
            wanted.setdefault(root, set()).add(file)
    for root, files in wanted.items():
        for file in sorted(f for f in files if not f.is_relative_to(root)):
            typer.echo(printable(f"{file}: is not under the routines root {root}"))
            errors += 1
        registry = RoutineRegistry.load(root, ts)
        for key, errs in registry.invalid().items():
            source = registry.path(key)
            if source is not None and source.resolve() in files:
                errors += len(errs)
                for routine_err in errs:
                    typer.echo(printable(routine_err))
        checked += len(files)
    if errors:
        raise _fail(f"{errors} error(s) in {checked} file(s)")
    typer.echo(f"ok: {checked} routine file(s) valid")


def _project_registry(templates: Path | None, routines_root: Path | None) -> tuple[RoutineRegistry, TemplateSet]:
    """The routine registry checked against the template set, and that set."""
    from emufleet.errors import EmufleetError
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir
    from emufleet.vision import load_templates

    template_errors: list[TemplateRegistryError] = []
    try:
        ts = load_templates(templates, errors=template_errors)
        registry = RoutineRegistry.load(routines_root or data_dir("routines"), ts)
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    for err in template_errors:
        typer.echo(f"templates: {err}", err=True)
    return registry, ts


def list_routines(
    tag: Annotated[str | None, typer.Option("--tag", help="Only routines with this tag.")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
) -> None:
    """List the valid routines (key, tags, display name); invalid ones are counted on stderr."""
    registry, _ = _project_registry(templates, routines_root)
    for routine in registry.by_tag(tag) if tag else registry.routines():
        typer.echo(printable(f"{routine.key:32} [{', '.join(routine.tags)}]  {routine.name}"))
    invalid = registry.invalid()
    if invalid:
        typer.echo(printable(f"{len(invalid)} invalid routine(s): {', '.join(invalid)} "
                             "(see 'emufleet routines validate')"), err=True)


def _print_event(event: StepEvent) -> None:
    if event.kind == "started":
        return
    scores = " ".join(f"{s.template}={s.score:.3f}{'✓' if s.found else '✗'}" if s.score is not None
                      else f"{s.template}=–" for s in event.scores[-6:])
    who = f"[{event.sentry}] " if event.sentry else ""
    status = "ok" if event.kind == "finished" else f"FAILED: {event.error}"
    typer.echo(printable(f"{'  ' * event.depth}{who}{event.routine}:{event.path} {event.action} "
                         f"{event.duration_ms or 0:.0f} ms {scores} {status}".rstrip()))


def _accounts(pools: list[str], serial: str, routine: str) -> BotAccounts:
    """The accounts of this CLI run over ``pools`` in order (lease owner ``cli-<uuid>`` + the serial)."""
    import uuid

    from emufleet import db
    from emufleet.bot import BotAccounts
    from emufleet.pools import LeaseOwner, Pool, PoolAccountProvider, find_pool

    owner = LeaseOwner(f"cli-{uuid.uuid4()}", serial)
    eng = db.engine()
    db.require_schema(eng)
    return BotAccounts([PoolAccountProvider(Pool(find_pool(name), eng, owner), routine=routine) for name in pools])


class _PrintObserver:
    """Prints the bot's events (health, faults, rungs, recoveries) and evidence as they happen."""

    def status(self, status: object) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def event(self, event: BotEvent) -> None:
        if event.kind in ("bot.heartbeat", "bot.step-completed", "bot.started"):
            return
        details = " ".join(f"{k}={v}" for k, v in event.payload.items() if v is not None)
        typer.echo(f"** {event.kind} {details}", err=True)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[object]) -> None:
        typer.echo(f"** failure evidence: {', '.join(str(f) for f in frames)}", err=True)


def run(
    name: Annotated[str, typer.Argument(help="Registry key, e.g. demo/reach_home.")],
    serial: Annotated[str, typer.Option("--serial", help="Device serial, e.g. 127.0.0.1:16384.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
    pool: Annotated[list[str] | None, typer.Option("--pool", help="Account pool (name or YAML path) for the account "
                                                   "actions, repeatable (tried in order); leases are returned when "
                                                   "the run ends.")] = None,
    group: Annotated[str | None, typer.Option("--group", help="Take restart policy, recovery and health settings "
                                              "from this group definition.")] = None,
    supervise: Annotated[bool, typer.Option(help="Health checks, stuck detection and the recovery ladder.")] = True,
    record: Annotated[Path | None, typer.Option("--record", help="Record a session into this folder (every distinct "
                                                "frame, every input and read; docs/sessions.md).")] = None,
) -> None:
    """Run a routine on a device as one supervised bot (the same session a launched bot runs), printing every step
    with its duration and match scores, and every fault and recovery. Ctrl-C stops it."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from emufleet import tracing
    from emufleet.bot import BotSession, BotSpec, EngineAssets
    from emufleet.bot.steps import InlineSteps
    from emufleet.errors import EmufleetError
    from emufleet.groups import BotState, RestartPolicy
    from emufleet.groups.definition import RestartMode

    overrides = config_overrides(set_)
    registry, ts = _project_registry(templates, routines_root)
    try:
        registry.get(name)
        settings: dict[str, object] = {"restart_policy": RestartPolicy(mode=RestartMode.NEVER)}
        if group is not None:
            from emufleet.groups import GroupStore

            definition = GroupStore().get(group)
            settings = {"restart_policy": definition.launch.restart_policy, "recovery": definition.recovery,
                        "health": definition.health}
        spec = BotSpec.model_validate({"group": group or "cli", "bot": 0, "instance": serial, "routine": name,
                                       "routine_config": overrides, "pools": list(pool or []), **settings})
        if not supervise:
            spec = spec.model_copy(update={"recovery": spec.recovery.model_copy(update={"enabled": False})})
        accounts = _accounts(spec.pools, serial, name) if spec.pools else None
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    recording = _recording(record, serial, name)
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="emufleet-bot")

    async def call(fn: Callable[..., object], *args: object) -> object:  # the session's BlockingCall
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    async def main() -> BotStatus:
        from emufleet.bot.evidence import evidence_dir

        run = time.strftime("%Y%m%d-%H%M%S")
        connect = recording[1].connect(serial, spec.connect_timeout_s) if recording is not None else None
        on_step = recording[1].on_step(_print_event) if recording is not None else _print_event
        hooks = tracing.instrument_bot(spec, _PrintObserver(), InlineSteps(call), connect=connect)
        session = BotSession(spec, EngineAssets(ts, registry), call=call, observer=hooks.observer, steps=hooks.steps,
                             connect=hooks.connect, accounts=accounts, on_step=on_step,
                             evidence_dir=evidence_dir(spec.group, 0, run))
        loop = asyncio.get_running_loop()
        # Ctrl-C becomes a session stop: the routine, its sentries and the accounts end cleanly before exit.
        loop.add_signal_handler(signal.SIGINT, session.stop)
        try:
            return await session.run()
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    result: BotStatus | None = None
    try:
        result = asyncio.run(main())
    finally:
        executor.shutdown(wait=False)
        if recording is not None:
            _finish_recording(*recording, result)
        if accounts is not None:  # the engine _accounts made (an open PostgreSQL connection warns when collected)
            accounts.providers[0].pool.engine.dispose()
    status = result
    if status.state is BotState.STOPPED:
        raise _fail("stopped", 130)
    if status.state is BotState.FAILED:
        raise _fail(f"failed: {status.gave_up or status.error}")
    typer.echo(f"done: {name}")


def _recording(folder: Path | None, serial: str, routine: str) -> tuple[SessionWriter, BotRecording] | None:
    """The session writer and bot recording of ``--record`` (``None`` without it)."""
    if folder is None:
        return None
    from emufleet.errors import EmufleetError
    from emufleet.sessions.attach import BotRecording
    from emufleet.sessions.recording import SessionWriter

    try:
        writer = SessionWriter(folder, serial=serial, routine=routine)
    except (EmufleetError, OSError) as exc:
        raise _fail(f"--record {folder}: {exc}") from None
    return writer, BotRecording(writer.add)


def _finish_recording(writer: SessionWriter, recording: BotRecording, result: BotStatus | None) -> None:
    from emufleet.groups import BotState

    if result is None:
        reason = "interrupted"
    elif result.gave_up:
        reason = f"gave up: {result.gave_up}"
    else:
        reason = "finished" if result.state is BotState.COMPLETED else str(result.state)
    writer.finish(recording.steps.end_event(reason))
    typer.echo(f"session recorded: {writer.folder} ({writer.frames} captures, {writer.inputs} inputs)", err=True)


def register(app: typer.Typer) -> None:
    """Add the ``routines`` command group to the root app."""
    group = typer.Typer(help="Validate, list and run routines.", no_args_is_help=True)
    group.command("validate")(validate)
    group.command("list")(list_routines)
    group.command("run")(run)
    from emufleet.cli.debug import debug

    group.command("debug")(debug)
    app.add_typer(group, name="routines")
