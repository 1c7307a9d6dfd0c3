"""``emufleet sessions replay|show|list``: replay a routine against a recorded session offline; summarise one; list
the flight recorders' sessions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emufleet.cli._common import MAX_COUNT
from emufleet.cli.routines import RootOpt, TemplatesOpt

__all__ = ["register"]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


def replay(
    folder: Annotated[Path, typer.Argument(help="The session folder (recorded with --record, or by a bot).")],
    routine: Annotated[str, typer.Argument(help="Registry key of the routine to replay, e.g. demo/reach_home.")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")] = None,
    templates: TemplatesOpt = None,
    routines_root: RootOpt = None,
    stall: Annotated[int, typer.Option("--stall", min=1, max=MAX_COUNT,
        help="Captures past a recorded frame sequence, without the "
                                       "input the session expects, that make a divergence.")] = 100,
    overlay_dir: Annotated[Path | None, typer.Option("--overlay-dir", help="Where divergence.png goes (default: "
                                                     "<session>/replay/).")] = None,
) -> None:
    """Run ROUTINE against the session offline (no emulator, adb or Prefect): print every failed image step, the
    first divergence with its step and overlay, and last ``steps=N inputs=N frames=N divergences=N``. Exit 0 only
    with no divergence."""
    from emufleet.cli.routines import _project_registry, config_overrides
    from emufleet.errors import EmufleetError
    from emufleet.sessions import replay as run_replay

    overrides = config_overrides(set_)
    registry, _ = _project_registry(templates, routines_root)
    try:
        report = run_replay(folder, routine, registry, overrides=overrides, stall_captures=stall,
                            overlay_dir=overlay_dir or folder / "replay")
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    for line in report.lines():
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


def record(
    folder: Annotated[Path, typer.Argument(help="The new session's folder.")],
    serial: Annotated[str, typer.Option("--serial", help="Device serial, e.g. 127.0.0.1:16384.")],
    seconds: Annotated[float | None, typer.Option("--seconds", min=0.1, max=86400.0,
                                                  help="Stop after this long (default: Ctrl-C stops).")] = None,
    inputs: Annotated[int | None, typer.Option("--inputs", min=1, max=MAX_COUNT,
                                               help="Stop after this many inputs.")] = None,
) -> None:
    """Record a person playing on the device: their taps, swipes and keys read from the device's own input events
    (``getevent``), a frame at the start and after each input, into a session that replays offline
    (docs/sessions.md). Ctrl-C, --seconds or --inputs ends it."""
    import signal
    import threading

    from emufleet.device import connect
    from emufleet.errors import EmufleetError
    from emufleet.sessions.person import GeteventParser, axis_scale, record_person
    from emufleet.sessions.recording import SessionWriter

    try:
        device = connect(serial)
        frame = device.screenshot()
        parser = GeteventParser(axis_scale(device.shell("getevent -p").output, frame.shape[1], frame.shape[0]))
        writer = SessionWriter(folder, serial=serial, reason="recorded by a person")
    except (EmufleetError, OSError) as exc:
        raise _fail(f"{folder}: {exc}") from None
    made = 0
    try:
        with device.stream("getevent -lt") as lines:
            timer = threading.Timer(seconds, lines.close) if seconds else None
            if timer is not None:
                timer.daemon = True
                timer.start()
            main = threading.current_thread() is threading.main_thread()  # signals reach the main thread only
            previous = signal.signal(signal.SIGINT, lambda *_: lines.close()) if main else None  # Ctrl-C ends it
            typer.echo(f"recording {serial} into {folder}: play on the device; Ctrl-C ends", err=True)
            try:
                made = record_person(device, writer, lines, parser, limit=inputs)
            finally:
                if main:
                    signal.signal(signal.SIGINT, previous)
                if timer is not None:
                    timer.cancel()
    except (EmufleetError, OSError) as exc:
        raise _fail(str(exc)) from None
    finally:
        writer.finish()
    typer.echo(f"session recorded: {folder} ({writer.frames} captures, {made} inputs)")


def show(folder: Annotated[Path, typer.Argument(help="The session folder.")]) -> None:
    """Summarise a session: device, reason, duration, captures, distinct frames, inputs by kind, how it ended."""
    from collections import Counter

    from emufleet.errors import EmufleetError
    from emufleet.sessions import Session

    try:
        session = Session(folder)
    except EmufleetError as exc:
        raise _fail(str(exc)) from None
    head, events = session.header, session.events
    inputs = Counter(f"{e.kind}" + ("" if e.by == "routine" else f" ({e.by})") for e in session.inputs)
    typer.echo(f"session {folder}: format {head.version}, serial {head.serial}, routine {head.routine or '-'}, "
               f"reason {head.reason}")
    typer.echo(f"{events[-1].t if events else 0:.1f} s, {len(session.captures)} captures, "
               f"{len({e.frame for e in session.captures})} distinct frames, {len(session.inputs)} inputs"
               + (f" ({', '.join(f'{k} {n}' for k, n in sorted(inputs.items()))})" if inputs else ""))
    end = session.end
    if end is not None:
        typer.echo(f"ended: {end.reason}" + (f" at {end.step}: {end.error}" if end.step else ""))


def list_all(
    root: Annotated[Path | None, typer.Argument(help="Folder to look in (default: <state>/sessions, where the "
                                                "flight recorders write).")] = None,
) -> None:
    """List sessions, newest first: folder, reason, device, routine, how it ended."""
    from emufleet.sessions.store import list_sessions

    for s in list_sessions(root):
        if s.error:
            typer.echo(f"{s.folder}  {s.error}")
            continue
        ended = f"ended {s.end}" + (f" at {s.step}" if s.step else "") if s.end else "being written"
        typer.echo(f"{s.folder}  {s.started:%Y-%m-%d %H:%M:%S}Z  {s.reason}  {s.serial}  {s.routine or '-'}  {ended}")


def register(app: typer.Typer) -> None:
    """Add the ``sessions`` command group to the root app."""
    group = typer.Typer(help="Recorded sessions: record a person playing, replay a routine against one offline, "
                             "show one, list them.",
                        no_args_is_help=True)
    group.command("record")(record)
    group.command("replay")(replay)
    group.command("show")(show)
    group.command("list")(list_all)
    app.add_typer(group, name="sessions")
