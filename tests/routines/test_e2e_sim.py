"""End to end: the shipped demo routines on the simulator, through the real adb server and emufleet.device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.errors import RoutineError
from emufleet.routines import BotContext, Controller, RoutineRegistry, RoutineRun, StepEvent
from emufleet.settings import GAME
from emufleet.vision import TemplateSet

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def registry() -> RoutineRegistry:
    reg = RoutineRegistry.load(REPO / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    assert reg.invalid() == {}
    return reg


def _bot(simulator: Callable[..., Any], registry: RoutineRegistry, **kwargs: Any) -> tuple[Any, BotContext,
                                                                                              list[StepEvent]]:
    from emufleet.device import connect

    sim = simulator(instances=1, scenario="demo")
    inst = sim.instances[0]
    device = connect(inst.serial)
    events: list[StepEvent] = []
    ctx = BotContext(device, registry.templates, registry, Controller(), {}, on_event=events.append,
                     bot_id=inst.serial, **kwargs)
    return inst, ctx, events


def _run(inst: Any, routine: Any, ctx: BotContext, overrides: dict[str, str]) -> None:
    try:
        RoutineRun(routine, ctx, overrides).run()
    except RoutineError as exc:  # say where the simulated game was
        pytest.fail(f"{exc}\nstate {inst.state}; last events {inst.events[-12:]}")


def test_reach_home_from_the_launcher_through_popups(simulator: Callable[..., Any], registry: RoutineRegistry
                                                     ) -> None:
    inst, ctx, events = _bot(simulator, registry)
    assert inst.state == "launcher"
    _run(inst, registry.get("demo/reach_home"), ctx, {})
    assert inst.state == "home_ready"
    taps = [e for e in inst.events if e.kind == "tap"]
    assert taps, "the routine drove the device by taps"
    scores = [s for e in events for s in e.scores if s.found]
    assert {s.template for s in scores} >= {"AppIcon", "TapToStart", "OK", "Main"}


def test_reach_home_dismisses_the_no_response_popup(simulator: Callable[..., Any], registry: RoutineRegistry
                                                    ) -> None:
    inst, ctx, _ = _bot(simulator, registry)
    inst.set_state("title_no_response")
    _run(inst, registry.get("demo/reach_home"), ctx, {})
    assert inst.state == "home_ready"


def test_open_pack_from_home_with_the_popup_sentry(simulator: Callable[..., Any], registry: RoutineRegistry
                                                   ) -> None:
    inst, ctx, _ = _bot(simulator, registry)
    inst.set_state("home_error")
    _run(inst, registry.get("demo/open_pack"), ctx, {"packs": "2"})
    assert inst.state == "home_ready"
    assert ctx.variables.get("packs_opened") == "2"


def test_cli_run_drives_the_simulator_to_the_home_screen(simulator: Callable[..., Any]) -> None:
    from typer.testing import CliRunner

    from emufleet.cli import app

    sim = simulator(instances=1, scenario="demo")
    inst = sim.instances[0]
    result = CliRunner().invoke(app, ["routines", "run", "demo/reach_home", "--serial", inst.serial,
                                      "--set", "settle_checks=5"])
    assert result.exit_code == 0, result.output
    assert inst.state == "home_ready"
    lines = result.stdout.splitlines()
    assert lines[-1] == "done: demo/reach_home"
    assert any("ClickIfImageFound" in line and "AppIcon=1.000✓" in line for line in lines), result.stdout
    assert any(line.startswith("demo/reach_home:steps[1] Until ") and line.endswith(" ok") for line in lines)


def _one_account_pool(db_engine: Any, make_accounts: Callable[..., list[int]]) -> tuple[int, Any]:
    """One account in a pool ``demo``, and a bot's provider over it (``demo/account_cycle``)."""
    from emufleet.pools import LeaseOwner, Pool, PoolAccountProvider, PoolDefinition

    (account_id,) = make_accounts(1)
    definition = PoolDefinition.loads("pool_name: demo\nqueries: [{name: all, filters: [{column: id, "
                                      "comparator: '>', value: 0}]}]\n", "demo.yaml")
    return account_id, PoolAccountProvider(Pool(definition, db_engine, LeaseOwner("launch-1", "bot-0")),
                                           routine="demo/account_cycle")


def test_account_cycle_with_a_pool(simulator: Callable[..., Any], registry: RoutineRegistry, db_engine: Any,
                                   make_accounts: Callable[..., list[int]]) -> None:
    from sqlalchemy import select

    from emufleet import db

    account_id, pool = _one_account_pool(db_engine, make_accounts)
    inst, ctx, _ = _bot(simulator, registry, accounts=pool)
    _run(inst, registry.get("demo/account_cycle"), ctx, {"packs": "1"})
    assert inst.state == "home_ready"
    assert "deviceAccount" in inst.read_file(GAME.prefs_path).decode()
    assert ctx.variables.get("account_name") == "acct_000@test.invalid"
    with db.session(db_engine) as s:
        account = s.get(db.Account, account_id)
        assert account is not None and account.pool_status == "completed"
        runs = list(s.scalars(select(db.RoutineExecution)))
        assert [(r.account_id, r.packs_opened) for r in runs] == [(account_id, 1)]
        assert account.packs_opened == 1  # the account's own counter grew by what the routine reported
    assert pool.pool.stats().packs_opened == 1  # the pool's stats sum what the routine did, not a constant


def test_account_cycle_reads_the_shinedust_off_the_screen_into_the_pool_stats(
        simulator: Callable[..., Any], registry: RoutineRegistry, db_engine: Any,
        make_accounts: Callable[..., list[int]]) -> None:
    from emufleet import db

    account_id, pool = _one_account_pool(db_engine, make_accounts)
    inst, ctx, events = _bot(simulator, registry, accounts=pool)
    _run(inst, registry.get("demo/account_cycle"), ctx, {"packs": "1", "read_stats": "true"})
    assert ctx.variables.get("shinedust") == "1250"  # what the demo home screen shows, read by OCR
    with db.session(db_engine) as s:
        account = s.get(db.Account, account_id)
        assert account is not None and account.shinedust == 1250 and account.pool_status == "completed"
    assert pool.pool.stats().shinedust == 1250
    assert any(e.action == "ReadNumber" and e.kind == "finished" for e in events)


def test_cli_run_stops_on_ctrl_c(simulator: Callable[..., Any]) -> None:
    import signal
    import subprocess
    import sys
    import time

    sim = simulator(instances=1, scenario="demo")
    inst = sim.instances[0]
    inst.set_state("home_ready")
    command = [str(Path(sys.executable).with_name("emufleet")), "routines", "run", "demo/open_pack",
               "--serial", inst.serial, "--set", "packs=20"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:  # wait until the routine is running
            if "ClickIfImageFound" in line:
                break
        t0 = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        print(f"Ctrl-C to exit: {(time.perf_counter() - t0) * 1000:.0f} ms (process teardown included)")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and "stopped" in err, err[-3000:]


def test_cli_run_with_a_pool_completes_the_account(simulator: Callable[..., Any], db_url: str,
                                                   make_accounts: Callable[..., list[int]], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from emufleet import db
    from emufleet.cli import app

    (account_id,) = make_accounts(1)
    pool_file = tmp_path / "one.yaml"
    pool_file.write_text("pool_name: one\nqueries: [{name: all, filters: [{column: id, comparator: '>', value: 0}]}]\n")
    monkeypatch.setenv("EMUFLEET_DATABASE_URL", db_url)
    inst = simulator(instances=1, scenario="demo").instances[0]
    result = CliRunner().invoke(app, ["routines", "run", "demo/account_cycle", "--serial", inst.serial,
                                      "--pool", str(pool_file), "--set", "packs=1"])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == "done: demo/account_cycle"
    eng = db.engine(db_url)
    try:
        with db.session(eng) as s:
            account = s.get(db.Account, account_id)
            assert account is not None and account.pool_status == "completed"
            assert account.lease_owner is None  # no lease left behind
    finally:
        eng.dispose()


def test_cli_run_without_a_pool_says_so(simulator: Callable[..., Any]) -> None:
    from typer.testing import CliRunner

    from emufleet.cli import app

    inst = simulator(instances=1, scenario="demo").instances[0]
    result = CliRunner().invoke(app, ["routines", "run", "demo/account_cycle", "--serial", inst.serial])
    assert result.exit_code == 1
    assert "no account pool configured" in result.output
