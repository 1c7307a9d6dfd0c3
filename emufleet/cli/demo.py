"""``emufleet demo`` (``make demo``): the whole product in one command, on simulated devices.

1. start (or reuse) the local Prefect server — ``PREFECT_API_URL`` wins if set; never ephemeral mode;
2. start the simulator with 4 instances of the demo game (in this process, on free ports);
3. open the demo database ``<state>/demo.db`` (kept across runs: the console's history shows each one), make every
   account available again and import the sample accounts (the ``demo`` pool's refresh);
4. launch the shipped ``demo`` group (4 bots, ``demo/account_cycle``, ``on_failure`` restarts) with a live table;
   an "app isn't responding" dialog is injected on instance 2 while its bot works: supervision sees it, and a rung
   of the recovery ladder (the recovery routine, or restarting the app with the same account) ends it;
5. print the flow run's URL in the Prefect UI and a summary (accounts completed, failures, restarts, steps/s);
6. keep the server running for exploring the UI until Ctrl-C (``--exit`` ends at once: tests and CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from emufleet.cli._common import MAX_PORT

if TYPE_CHECKING:  # the orchestration layers load inside the command only (tests/test_layering.py)
    from console.server import ConsoleThread
    from emufleet.groups import BotStatus
    from emufleet.sim import Simulator
    from flows.launch_group import LaunchResult
    from flows.server import PrefectServer

__all__ = ["register"]

DEMO_GROUP = "demo"
FAULTY_BOT = 2


def register(app: typer.Typer) -> None:
    """Add ``emufleet demo`` to the root app."""
    app.command("demo")(demo)


def demo(
    exit_: Annotated[bool, typer.Option("--exit", help="stop everything when the launch ends (tests, CI)")] = False,
    instances: Annotated[int, typer.Option(min=1, max=8, help="simulated instances (one bot each)")] = 4,
    fault: Annotated[bool, typer.Option(help="inject a fault on one device so a restart shows")] = True,
    port: Annotated[int | None, typer.Option(min=1, max=MAX_PORT,
        help="Prefect server port (default 4200, else a free one)")] = None,
    max_accounts: Annotated[int | None, typer.Option(min=1, max=10**9,
        help="stop after this many accounts (default: all)")]
    = None,
) -> None:
    """Run the demo: 4 bots play the account-cycle routine on simulated devices, visible in the Prefect UI.

    Whatever ends it (the launch finishing with --exit, Ctrl-C, SIGTERM, a closed terminal or pipe), the Prefect
    server and the adb server it started are stopped; servers that were already running are left alone.
    """
    import time

    from emufleet.settings import state_dir
    from emufleet.sim.adbserver import adb_server_running, kill_adb_server
    from flows.server import ensure_server, stop_server, use_server

    _stop_on_signals()
    # The showcase runs a server and four bots on whatever machine it is given: a busy laptop's CPU must not shed
    # them (memory still gates; a host file or EMUFLEET_RESOURCES set by the user wins).
    os.environ.setdefault("EMUFLEET_RESOURCES", '{"max_cpu_percent": 100}')
    adb_was_running = adb_server_running()
    _say("starting the Prefect server (a first start on a fresh machine takes ≈ 20 s) …")
    began = time.monotonic()
    server = ensure_server(port=port)
    code = 1
    fleet_console = None
    try:
        use_server(server)
        ready = f"ready in {time.monotonic() - began:.0f} s" if server.owned else "already running"
        _say(f"Prefect UI: {server.ui_url}  (API {server.api_url}; {ready})")
        database = state_dir() / "demo.db"
        os.environ["EMUFLEET_DATABASE_URL"] = f"sqlite:///{database}"
        from emufleet import db

        db.upgrade()  # before the console, which (like every command but `db upgrade`) refuses a missing database
        _fresh_start(database)
        fleet_console = _start_console(server)
        result = asyncio.run(_run(server, instances, fault, max_accounts))
        code = 1 if result is None or any(b.state == "failed" for b in result.bots) else 0
        if not exit_:
            _wait_for_ctrl_c(server)
    except KeyboardInterrupt:
        _say("interrupted")
        code = 130
    finally:
        if fleet_console is not None:
            fleet_console.stop()
        if server.owned:
            _say("stopping the Prefect server …")
        _drain_logs()
        stop_server(server)
        if not adb_was_running and adb_server_running():
            kill_adb_server()  # the bots' connections started it: leave the machine as we found it
    raise typer.Exit(code=code)


def _fresh_start(database: Path) -> None:
    """Every demo account available again and no quarantine left from an earlier run (its simulated instances were
    stopped with it), keeping the database: the console's history and charts show every run of the demo."""
    from emufleet.db import engine as open_engine
    from emufleet.farm import active, list_launches, release
    from emufleet.pools import reset_accounts

    engine = open_engine()
    try:
        earlier = bool(list_launches(engine, limit=1))
        reset_accounts(engine, everything=True, include_leased=True)  # the demo's own database: no other bot
        for entry in active(engine):
            release(engine, entry.kind, entry.subject, by="demo restart")
    finally:
        engine.dispose()
    if earlier:
        _say(f"demo database {database} kept (the console's history shows the earlier runs); every account is "
             "available again")


def _start_console(server: PrefectServer) -> ConsoleThread | None:
    """The fleet console on a thread (a free port, 4300 when free); ``None`` (with a warning) if it cannot start."""
    try:
        from console import ConsoleConfig, free_console_port, start_in_thread

        running = start_in_thread(ConsoleConfig(port=free_console_port(), prefect_ui_url=server.ui_url))
    except Exception as exc:  # the demo runs without its console rather than not at all
        typer.secho(f"warning: the fleet console did not start: {exc}", fg=typer.colors.YELLOW, err=True)
        return None
    _say(f"Fleet console: {running.url}  (groups, instances, pools, accounts; beside the Prefect UI)")
    return running


def _stop_on_signals() -> None:
    """SIGTERM and SIGHUP (a closed terminal) end the demo like Ctrl-C does, through the clean-up path; Ctrl-C
    itself too, even when the demo was started with SIGINT ignored (a parent that ignored it passes that on, and
    Python then installs no KeyboardInterrupt handler: "press Ctrl-C to stop it" did nothing)."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():  # signal handlers can only be set there
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), interrupt)


def _say(message: str) -> None:
    """Print a line; once stdout is a closed pipe (``| tee`` ended by the same Ctrl-C), go on silently."""
    try:
        typer.echo(message)
    except (BrokenPipeError, ValueError):
        _silence_stdout()


def _silence_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # later writes (and the flush at exit) go nowhere instead of raising
        os.dup2(devnull, sys.stderr.fileno())
        os.close(devnull)


async def _run(server: PrefectServer, instances: int, fault: bool, max_accounts: int | None) -> LaunchResult | None:
    from rich.console import Console

    from emufleet import db
    from emufleet.groups import LaunchOverrides
    from emufleet.sim import Simulator
    from flows.progress import run_launch

    console = Console()
    db.upgrade()  # the demo sets the machine up, as `emufleet up` does: it may create the database
    from emufleet.sim.adbserver import find_free_base_port

    base = find_free_base_port(instances)
    with Simulator(instances=instances, scenario="demo", base_port=base) as sim:
        serials = [inst.serial for inst in sim.instances]
        console.print(f"simulator: {instances} instances on {', '.join(serials)}")
        overrides = LaunchOverrides(bots=instances, instances=list(range(instances)), backend="adb",
                                    backend_options={"serials": serials}, max_accounts=max_accounts)
        injector = _FaultInjector(sim, min(FAULTY_BOT, instances - 1)) if fault else None
        try:
            result = await run_launch(DEMO_GROUP, overrides, server=server, console=console,
                                      on_tick=injector.tick if injector else None)
        finally:
            if injector is not None:
                injector.clear()  # the launch ended: a fault no rung ended must not outlive it
    if result is not None:
        console.print(_summary_line(result), soft_wrap=True)
    return result


class _FaultInjector:
    """An ANR dialog on one instance once its bot is two steps into an account: a rung of the recovery ladder
    (restart the app) ends it; cleared by hand only if the bot ends without recovering."""

    def __init__(self, sim: Simulator, bot: int) -> None:
        self.sim = sim
        self.bot = bot
        self.injected = False
        self.cleared = False

    def tick(self, bots: list[BotStatus]) -> None:
        me = next((b for b in bots if b.bot == self.bot), None)
        if me is None:
            return
        instance = self.sim.instances[self.bot]
        if not self.injected and me.state.value == "running" and me.steps_done >= 2:
            instance.inject_fault("anr")
            self.injected = True
        elif self.injected and me.state.value in ("failed", "completed", "stopped"):
            self.clear()

    def clear(self) -> None:
        if self.injected and not self.cleared:
            self.sim.instances[self.bot].clear_faults()
            self.cleared = True


def _summary_line(result: LaunchResult) -> str:
    done = sum(b.accounts_completed for b in result.bots)
    failed = sum(b.accounts_failed for b in result.bots)
    restarts = sum(b.restarts for b in result.bots)
    rungs: dict[str, int] = {}
    for b in result.bots:
        for rung, n in b.recoveries.items():
            rungs[rung] = rungs.get(rung, 0) + n
    recovered = ", ".join(f"{rung} ×{n}" for rung, n in sorted(rungs.items())) or "none"
    rates = ", ".join(f"bot {b.bot} {b.steps_per_s:.2f}" for b in result.bots)
    return (f"accounts completed: {done}, failures: {failed}, restarts: {restarts}, recoveries: {recovered}; "
            f"steps per second: {rates}")


def _drain_logs() -> None:
    """Ship the last logs to the server before it stops (never raises: stopping the server matters more)."""
    from prefect.logging.handlers import APILogWorker

    try:
        APILogWorker.drain_all(timeout=5)
    except Exception as exc:  # noqa: BLE001 - the last logs are a courtesy; stopping the server matters more
        logging.getLogger(__name__).info("the last logs did not reach the server: %s: %s", type(exc).__name__, exc)


def _wait_for_ctrl_c(server: PrefectServer) -> None:
    """Keep the server up for the UI until Ctrl-C (KeyboardInterrupt) or SIGTERM/SIGHUP (see _stop_on_signals)."""
    import time

    try:  # the prompt inside: a Ctrl-C that comes the moment it is read still ends the demo as asked
        _say(f"\nThe Prefect server keeps running: explore {server.ui_url} — press Ctrl-C to stop it.")
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return
