"""``emufleet routines debug ROUTINE --serial S``: step a routine on a device (docs/studio.md "Step debugger").

The instance is held as a bot holds it (a flow run of its own claims it and takes its lock on the Prefect server:
:mod:`adapters.debugging`), so a Prefect server must run. Commands at the ``(debug)`` prompt, one per line (stdin):

    n, next, over   step over          i, into   step into         o, out   step out
    c, continue     to the next breakpoint      b SPEC / d SPEC    add / delete a breakpoint ([ROUTINE:]PATH|LINE)
    v, vars         the variables      w FILE    write the frame with its overlay (PNG)
    q, stop         stop the routine (end of input stops it too)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import printable

if TYPE_CHECKING:
    from emufleet.debug import DebugSession, Pause

__all__ = ["debug"]

_HELP = ("commands: n(ext) i(nto) o(ut) c(ontinue) b SPEC, d SPEC (breakpoints) v(ars) w FILE (overlay PNG) "
         "q (stop)")
_SHOW_VARS = 12


def _show(pause: Pause, session: DebugSession, frames: Path | None) -> None:
    last = session.stepper.last
    typer.echo(printable(f"-- pause {pause.number} ({pause.reason}) before {pause.where()} depth {pause.depth}"))
    for line in last.lines() if last else []:
        typer.echo(printable(f"   {line}"))
    shown = list(pause.variables.items())
    typer.echo(printable("   vars: " + (" ".join(f"{k}={v!r}" for k, v in shown[:_SHOW_VARS]) or "(none)")
               + (f" … (+{len(shown) - _SHOW_VARS}, 'v' shows all)" if len(shown) > _SHOW_VARS else "")))
    if frames is not None:
        _write(session, frames / f"pause-{pause.number:03d}.png")


def _write(session: DebugSession, path: Path) -> None:
    png = session.overlay_png()
    if png is None:
        typer.echo("   (no frame captured yet)")
        return
    try:
        path.write_bytes(png)
    except OSError as exc:
        typer.echo(f"   {path}: {exc}", err=True)
        return
    typer.echo(f"   frame: {path}")


def _command(line: str, session: DebugSession) -> bool:
    """Apply one prompt line; ``True`` when it resumed (or stopped) the routine."""
    from emufleet.debug import Breakpoint
    from emufleet.errors import InputError

    word, _, arg = line.strip().partition(" ")
    stepper = session.stepper
    go = {"n": stepper.step_over, "next": stepper.step_over, "over": stepper.step_over, "i": stepper.step_into,
          "into": stepper.step_into, "o": stepper.step_out, "out": stepper.step_out, "c": stepper.resume,
          "continue": stepper.resume, "q": stepper.stop, "stop": stepper.stop}
    try:
        if word in go:
            go[word]()
            return True
        if word in ("b", "d"):
            point = Breakpoint.parse(arg)
            kept = [b for b in stepper.breakpoints if b != point]
            stepper.set_breakpoints([*kept, point] if word == "b" else kept)
            typer.echo(printable("   breakpoints: " + (", ".join(map(str, stepper.breakpoints)) or "(none)")))
        elif word in ("v", "vars"):
            pause = stepper.pause
            for name, value in (pause.variables if pause else {}).items():
                typer.echo(printable(f"   {name} = {value!r}"))
        elif word == "w" and arg:
            _write(session, Path(arg.strip()))
        elif word:
            typer.echo(f"   {_HELP}")
    except InputError as exc:
        typer.echo(printable(f"   {exc}"), err=True)
    return False


def _repl(session: DebugSession, frames: Path | None) -> None:
    """Show each pause and read commands until the routine ends (end of input stops it)."""
    while (pause := session.wait()) is not None:
        _show(pause, session, frames)
        while True:
            try:
                line = input("(debug) ")
            except EOFError:
                session.stepper.stop()
                break
            if _command(line, session):
                break


def debug(
    name: Annotated[str, typer.Argument(help="Registry key, e.g. demo/reach_home.")],
    serial: Annotated[str, typer.Option("--serial", help="Device serial, e.g. 127.0.0.1:16384.")],
    breakpoint_: Annotated[list[str] | None, typer.Option(
        "--break", help="Pause before this step: [ROUTINE:]PATH (steps[1].actions[0]) or [ROUTINE:]LINE; "
                        "repeatable.")] = None,
    run: Annotated[bool, typer.Option("--run", help="Run to the first breakpoint instead of pausing before the "
                                      "first step.")] = False,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Config override key=value (repeatable).")] = None,
    frames: Annotated[Path | None, typer.Option("--frames", help="Write each pause's frame with its overlay here "
                                                "(pause-NNN.png).")] = None,
    templates: Annotated[Path | None, typer.Option("--templates", help="Template set (default: templates/).")] = None,
    routines_root: Annotated[Path | None, typer.Option("--routines-root", help="Routines folder.")] = None,
) -> None:
    """Step a routine on one instance: breakpoints, step over/into/out, continue, stop; at each pause the
    variables, why the last step's template checks matched or not, and (--frames, w FILE) the frame with its
    overlay. The instance is locked as a bot locks it: never one a launch holds, and no launch takes it meanwhile."""
    import asyncio

    from adapters.debugging import debug_hold
    from emufleet.cli.routines import _project_registry, config_overrides
    from emufleet.control import ControlPlane
    from emufleet.debug import Breakpoint, DebugSession
    from emufleet.device import connect
    from emufleet.errors import EmufleetError
    from emufleet.hosts import InstanceId, this_host
    from emufleet.hosts.identity import SERIAL_RULE, is_serial
    from flows.server import running_server, use_server

    overrides = config_overrides(set_)
    registry, _ = _project_registry(templates, routines_root)
    if not is_serial(serial):
        typer.echo(f"--serial {serial[:40]!r}: {SERIAL_RULE}", err=True)
        raise typer.Exit(2)
    try:
        points = [Breakpoint.parse(text) for text in breakpoint_ or []]
        registry.get(name)
    except EmufleetError as exc:
        typer.echo(printable(exc), err=True)
        raise typer.Exit(1) from None
    instance = InstanceId(this_host(), serial)
    if frames is not None:
        frames.mkdir(parents=True, exist_ok=True)
    server = running_server()
    if server is None:
        typer.echo("no Prefect server is running: the debugger locks the instance there as a bot does "
                   "(`emufleet server start`, or set PREFECT_API_URL)", err=True)
        raise typer.Exit(1)
    use_server(server)

    async def main() -> DebugSession:
        plane = ControlPlane.connect()
        try:
            async with debug_hold(plane.claims, instance, routine=name):
                device = await asyncio.to_thread(connect, serial)
                session = DebugSession(registry, name, device, breakpoints=points, stop_on_entry=not run,
                                       overrides=overrides)
                session.start()
                try:
                    await asyncio.to_thread(_repl, session, frames)
                finally:
                    await asyncio.to_thread(session.close)
                return session
        finally:
            plane.engine.dispose()

    try:
        session = asyncio.run(main())
    except EmufleetError as exc:
        typer.echo(printable(exc), err=True)
        raise typer.Exit(1) from None
    if session.outcome == "failed":
        typer.echo(printable(f"failed: {session.error}"), err=True)
        raise typer.Exit(1)
    typer.echo(printable(f"{session.outcome}: {name}"))
