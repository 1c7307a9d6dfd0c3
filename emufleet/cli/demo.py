"""``emufleet demo`` (``make demo``): the whole product in one command, on simulated devices.

1. start (or reuse) the local Prefect server — ``PREFECT_API_URL`` wins if set; never ephemeral mode;
2. start the simulator with 4 instances of the demo game (in this process, on free ports);
3. rebuild the demo database ``<state>/demo.db`` and import the sample accounts (the ``demo`` pool's refresh);
4. launch the shipped ``demo`` group (4 bots, ``demo/account_cycle``, ``on_failure`` restarts) with a live table;
   a black screen is injected on instance 2 while its bot works, so one restart shows, then cleared;
5. print the flow run's URL in the Prefect UI and a summary (accounts completed, failures, restarts, steps/s);
6. keep the server running for exploring the UI until Ctrl-C (``--exit`` ends at once: tests and CI).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Annotated, Any

import typer

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
    port: Annotated[int | None, typer.Option(help="Prefect server port (default 4200, else a free one)")] = None,
    max_accounts: Annotated[int | None, typer.Option(min=1, help="stop after this many accounts (default: all)")]
    = None,
) -> None:
    """Run the demo: 4 bots play the account-cycle routine on simulated devices, visible in the Prefect UI."""
    from emufleet.settings import state_dir
    from flows.server import ensure_server, stop_server, use_server

    typer.echo("starting the Prefect server (first start on a fresh machine: ≈ 10 s) …")
    server = ensure_server(port=port)
    use_server(server)
    typer.echo(f"Prefect UI: {server.ui_url}  (API {server.api_url})")
    database = state_dir() / "demo.db"
    for suffix in ("", "-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    os.environ["EMUFLEET_DATABASE_URL"] = f"sqlite:///{database}"
    fleet_console = _start_console(server)
    try:
        result = asyncio.run(_run(server, instances, fault, max_accounts))
    finally:
        if exit_:
            if fleet_console is not None:
                fleet_console.stop()
            _drain_logs()
            stop_server(server)
    if result is None:
        raise typer.Exit(code=1)
    if not exit_:
        _wait_for_ctrl_c(server)
    raise typer.Exit(code=0 if all(b.state != "failed" for b in result.bots) else 1)


def _start_console(server: Any) -> Any:
    """The fleet console on a thread (a free port, 4300 when free); ``None`` (with a warning) if it cannot start."""
    try:
        from console import ConsoleConfig, free_console_port, start_in_thread

        running = start_in_thread(ConsoleConfig(port=free_console_port(), prefect_ui_url=server.ui_url))
    except Exception as exc:  # the demo runs without its console rather than not at all
        typer.secho(f"warning: the fleet console did not start: {exc}", fg=typer.colors.YELLOW, err=True)
        return None
    typer.echo(f"Fleet console: {running.url}  (groups, instances, pools, accounts; beside the Prefect UI)")
    return running


async def _run(server: Any, instances: int, fault: bool, max_accounts: int | None) -> Any:
    from rich.console import Console

    from emufleet import db
    from emufleet.groups import LaunchOverrides
    from emufleet.sim import Simulator
    from flows.progress import run_launch

    console = Console()
    db.upgrade(db.engine())
    from emufleet.sim.adbserver import find_free_base_port

    base = find_free_base_port(instances)
    with Simulator(instances=instances, scenario="demo", base_port=base) as sim:
        serials = [inst.serial for inst in sim.instances]
        console.print(f"simulator: {instances} instances on {', '.join(serials)}")
        overrides = LaunchOverrides(bots=instances, instances=list(range(instances)), backend="adb",
                                    backend_options={"serials": serials}, max_accounts=max_accounts)
        injector = _FaultInjector(sim, min(FAULTY_BOT, instances - 1)) if fault else None
        result = await run_launch(DEMO_GROUP, overrides, server=server, console=console,
                                  on_tick=injector.tick if injector else None)
    if result is not None:
        console.print(_summary_line(result))
    return result


class _FaultInjector:
    """Black screen on one instance once its bot is two steps into an account; cleared when it restarts."""

    def __init__(self, sim: Any, bot: int) -> None:
        self.sim = sim
        self.bot = bot
        self.injected = False
        self.cleared = False

    def tick(self, bots: list[Any]) -> None:
        me = next((b for b in bots if b.bot == self.bot), None)
        if me is None:
            return
        instance = self.sim.instances[self.bot]
        if not self.injected and me.state.value == "running" and me.steps_done >= 2:
            instance.inject_fault("black_screen")
            self.injected = True
        elif self.injected and not self.cleared and (me.restarts >= 1 or me.state.value in ("failed", "completed")):
            instance.clear_faults()
            self.cleared = True


def _summary_line(result: Any) -> str:
    done = sum(b.accounts_completed for b in result.bots)
    failed = sum(b.accounts_failed for b in result.bots)
    restarts = sum(b.restarts for b in result.bots)
    rates = ", ".join(f"bot {b.bot} {b.steps_per_s:.2f}" for b in result.bots)
    return (f"accounts completed: {done}, failures: {failed}, restarts: {restarts}; "
            f"steps per second: {rates}")


def _drain_logs() -> None:
    """Ship the last logs to the server before it stops (never raises: stopping the server matters more)."""
    import contextlib

    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(Exception):
        APILogWorker.drain_all(timeout=5)


def _wait_for_ctrl_c(server: Any) -> None:
    from flows.server import stop_server

    typer.echo(f"\nThe Prefect server keeps running: explore {server.ui_url} — press Ctrl-C to stop it.")
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    stopped.wait()
    typer.echo("stopping the Prefect server …")
    _drain_logs()
    stop_server(server)
