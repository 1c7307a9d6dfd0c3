"""``emufleet routines validate|list|run``: check routine files, list them, run one on a device."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from emufleet.pools import PoolAccountProvider
    from emufleet.routines import RoutineRegistry, StepEvent
    from emufleet.vision import TemplateSet

__all__ = ["register"]

TemplatesOpt = Annotated[Path | None, typer.Option(
    "--templates", help="Template set: a registry YAML, a folder of them, or a seed templates folder "
                        "(e.g. ../shared/seed-assets/templates). Default: the project's templates/.")]
RootOpt = Annotated[Path | None, typer.Option(
    "--routines-root", help="Folder the registry keys are relative to. Default: the nearest routines/ folder "
                            "above each path (the project's routines/ for list and run).")]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def load_templates(path: Path | None) -> TemplateSet:
    """The template set at ``path`` (default the project's ``templates/``); a seed folder uses the seed loader.

    Raises:
        TemplateRegistryError: the registry is invalid (located).
    """
    from emufleet.settings import data_dir
    from emufleet.vision import TemplateSet
    from emufleet.vision.seed import build_seed_registry

    path = path or data_dir("templates")
    if path.is_dir() and (path / "legacy_regions.csv").is_file() and (path / "registry").is_dir():
        return build_seed_registry(path)
    return TemplateSet.load(path)


def _root_of(path: Path) -> Path:
    """The nearest folder named ``routines`` at or above ``path``, else the folder of ``path``."""
    path = path.resolve()
    for candidate in (path, *path.parents):
        if candidate.name == "routines" and candidate.is_dir():
            return candidate
    return path if path.is_dir() else path.parent


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p.resolve() for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path.resolve()]


def validate(
    paths: Annotated[list[Path] | None, typer.Argument(help="Routine files or folders (default: routines/).")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
) -> None:
    """Validate routine files: one line per error (file:line:col: field: message); exit 1 on any error."""
    from emufleet.errors import EmufleetError
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir

    try:
        ts = load_templates(templates)
    except EmufleetError as exc:
        raise _fail(f"templates: {exc}") from None
    wanted: dict[Path, set[Path]] = {}
    for path in paths or [data_dir("routines")]:
        if not path.exists():
            raise _fail(f"{path}: no such file or folder")
        for file in _files(path):
            root = routines_root.resolve() if routines_root else _root_of(path)
            wanted.setdefault(root, set()).add(file)
    errors = checked = 0
    for root, files in wanted.items():
        for file in sorted(f for f in files if not f.is_relative_to(root)):
            typer.echo(f"{file}: is not under the routines root {root}")
            errors += 1
        registry = RoutineRegistry.load(root, ts)
        for key, errs in registry.invalid().items():
            source = registry.path(key)
            if source is not None and source.resolve() in files:
                errors += len(errs)
                for err in errs:
                    typer.echo(str(err))
        checked += len(files)
    if errors:
        raise _fail(f"{errors} error(s) in {checked} file(s)")
    typer.echo(f"ok: {checked} routine file(s) valid")


def _project_registry(templates: Path | None, routines_root: Path | None) -> RoutineRegistry:
    from emufleet.errors import EmufleetError
    from emufleet.routines import RoutineRegistry
    from emufleet.settings import data_dir

    try:
        return RoutineRegistry.load(routines_root or data_dir("routines"), load_templates(templates))
    except EmufleetError as exc:
        raise _fail(str(exc)) from None


def list_routines(
    tag: Annotated[str | None, typer.Option("--tag", help="Only routines with this tag.")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
) -> None:
    """List the valid routines (key, tags, display name); invalid ones are counted on stderr."""
    registry = _project_registry(templates, routines_root)
    for routine in registry.by_tag(tag) if tag else registry.routines():
        typer.echo(f"{routine.key:32} [{', '.join(routine.tags)}]  {routine.name}")
    invalid = registry.invalid()
    if invalid:
        typer.echo(f"{len(invalid)} invalid routine(s): {', '.join(invalid)} (see 'emufleet routines validate')",
                   err=True)


def _print_event(event: StepEvent) -> None:
    if event.kind == "started":
        return
    scores = " ".join(f"{s.template}={s.score:.3f}{'✓' if s.found else '✗'}" if s.score is not None
                      else f"{s.template}=–" for s in event.scores[-6:])
    who = f"[{event.sentry}] " if event.sentry else ""
    status = "ok" if event.kind == "finished" else f"FAILED: {event.error}"
    typer.echo(f"{'  ' * event.depth}{who}{event.routine}:{event.path} {event.action} "
               f"{event.duration_ms or 0:.0f} ms {scores} {status}".rstrip())


def _pool_provider(pool: str, serial: str, routine: str) -> PoolAccountProvider:
    """A provider leasing from ``pool`` to this CLI run (owner ``cli-<uuid>`` + the serial)."""
    import uuid

    from emufleet import db
    from emufleet.pools import LeaseOwner, Pool, PoolAccountProvider, find_pool

    definition = find_pool(pool)
    owner = LeaseOwner(f"cli-{uuid.uuid4()}", serial)
    return PoolAccountProvider(Pool(definition, db.engine(), owner), routine=routine)


def run(
    name: Annotated[str, typer.Argument(help="Registry key, e.g. demo/reach_home.")],
    serial: Annotated[str, typer.Option("--serial", help="Device serial, e.g. 127.0.0.1:16384.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
    pool: Annotated[str | None, typer.Option("--pool", help="Account pool (name or YAML path) for the account "
                                             "actions; leases are returned when the run ends.")] = None,
) -> None:
    """Run a routine on a device, printing every step with its duration and match scores. Ctrl-C stops it."""
    from emufleet.device import connect
    from emufleet.errors import EmufleetError, RoutineStopped
    from emufleet.routines import BotContext, Controller, RoutineRun

    overrides = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise _fail(f"--set {item!r}: expected key=value")
        overrides[key.strip()] = value
    registry = _project_registry(templates, routines_root)
    try:
        routine = registry.get(name)
        device = connect(serial)
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    controller = Controller()
    try:
        accounts = _pool_provider(pool, serial, name) if pool else None
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    ctx = BotContext(device, registry.templates, registry, controller, {}, accounts=accounts, on_event=_print_event,
                     bot_id=serial)
    outcome: list[BaseException] = []

    def work() -> None:
        try:
            RoutineRun(routine, ctx, overrides).run()
        except BaseException as exc:  # reported by the main thread
            outcome.append(exc)

    # Ctrl-C becomes a controller stop, handled between bytecodes of the main thread, rather than a
    # KeyboardInterrupt raised inside Thread.join: the routine (and its sentries) end cleanly before exit.
    interrupted = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        interrupted.set()
        controller.stop()

    previous = signal.signal(signal.SIGINT, on_sigint)
    worker = threading.Thread(target=work, name=f"routine:{name}")
    worker.start()
    heartbeat = accounts.start_heartbeat() if accounts else None
    try:
        while worker.is_alive():
            worker.join(0.05)
    finally:
        signal.signal(signal.SIGINT, previous)
        if accounts is not None and heartbeat is not None:
            heartbeat.stop()
            accounts.close("routine run ended")
            accounts.pool.engine.dispose()  # this command made the engine (a PostgreSQL connection left open warns)
    if interrupted.is_set():
        raise _fail("stopped", 130)
    if outcome:
        error = outcome[0]
        if isinstance(error, RoutineStopped | EmufleetError | ValueError):
            raise _fail(f"failed: {error}")
        raise error
    typer.echo(f"done: {name}")


def register(app: typer.Typer) -> None:
    """Add the ``routines`` command group to the root app."""
    group = typer.Typer(help="Validate, list and run routines.", no_args_is_help=True)
    group.command("validate")(validate)
    group.command("list")(list_routines)
    group.command("run")(run)
    app.add_typer(group, name="routines")
