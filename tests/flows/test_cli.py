"""``emufleet groups …`` and ``emufleet demo`` through the real CLI (typer's runner), on the session server."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from emufleet import db
from emufleet.cli import app
from emufleet.db import Account
from emufleet.farm import active, list_launches, quarantine, record_end, record_start
from flows.control import status
from flows.server import PrefectServer
from tests.fleet import FleetHome

runner = CliRunner()


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_list_save_show_delete(prefect_server: PrefectServer, fleet_home: FleetHome, tmp_path: Path) -> None:
    fleet_home.group("alpha", description="first group",
                     schedule={"timezone": "Europe/Paris", "windows": ["18:00-02:00"], "daily_reset": "06:00"})
    windows = invoke("groups", "show", "alpha")
    assert "schedule: 18:00-02:00; Europe/Paris; reset 06:00; margin 300 s" in windows.stdout, windows.stdout
    (fleet_home.root / "groups" / "broken.yaml").write_text("name: broken\nbots: 0\n", encoding="utf-8")
    listed = invoke("groups", "list")
    assert listed.exit_code == 0
    assert "alpha" in listed.stdout and "test/cycle" in listed.stdout
    assert "broken.yaml" in listed.stderr

    bad = tmp_path / "beta.yaml"
    bad.write_text("version: 1\nname: beta\nroutine: test/cycle\ninstances: [0]\nbots: 2\n", encoding="utf-8")
    refused = invoke("groups", "save", str(bad))
    assert refused.exit_code == 1 and f"{bad}:1:1:" in refused.stderr and "exceeds" in refused.stderr
    bad.write_text(bad.read_text(encoding="utf-8").replace("bots: 2", "bots: 1"), encoding="utf-8")
    assert invoke("groups", "save", str(bad)).exit_code == 0
    assert (fleet_home.root / "groups" / "beta.yaml").is_file()

    shown = invoke("groups", "show", "beta")
    assert shown.exit_code == 0 and '"routine": "test/cycle"' in shown.stdout and "no live bots" in shown.stdout
    assert invoke("groups", "delete", "beta").exit_code == 0
    assert not (fleet_home.root / "groups" / "beta.yaml").exists()
    missing = invoke("groups", "show", "beta")
    assert missing.exit_code == 1 and "no group named 'beta'" in missing.stderr


def test_controls_on_a_group_that_is_not_running(prefect_server: PrefectServer, fleet_home: FleetHome) -> None:
    fleet_home.group("idle")
    paused = invoke("groups", "pause", "idle")
    assert paused.exit_code == 1 and "not running" in paused.stderr
    stopped = invoke("groups", "stop", "idle")
    assert stopped.exit_code == 0 and "0 flow run(s)" in stopped.stdout
    for action in ("restart-app", "restart-instance"):
        restarted = invoke("groups", action, "idle", "--bot", "0")
        assert restarted.exit_code == 1 and "not running" in restarted.stderr, restarted.stderr
    bad_set = invoke("groups", "launch", "idle", "--set", "novalue")
    assert bad_set.exit_code != 0 and "key=value" in bad_set.stderr


@pytest.mark.slow
def test_launch_from_the_cli(prefect_server: PrefectServer, fleet_home: FleetHome,
                             simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=2)
    fleet_home.group("cli", instances=[0, 1], bots=1, backend_options={"serials": [i.serial for i in sim.instances]})
    result = invoke("groups", "launch", "cli", "--instances", "1", "--max-accounts", "1", "--no-watch")
    assert result.exit_code == 0, result.stdout
    assert "final state: COMPLETED" in result.stdout and "/runs/flow-run/" in result.stdout
    assert "pool 'test' has never been refreshed; manual refresh only" in result.stdout  # the pre-launch word
    (bot,) = asyncio.run(status("cli", live=False))
    assert bot.instance.serial == sim.instances[1].serial and bot.accounts_completed == 1  # --instances 1 was honoured
    again = invoke("groups", "launch", "cli", "--instances", "0", "--max-accounts", "1", "--no-refresh")
    assert again.exit_code == 0 and re.search(r"pool 'test' was last refreshed \d+s ago", again.stdout)
    progress = [line for line in again.stdout.splitlines() if " bot 0 " in line]  # piped: plain change lines
    assert progress and all(sim.instances[0].serial in line for line in progress)  # not the first launch's bot
    assert "completed" in progress[-1] and "done=1" in progress[-1]


@pytest.mark.slow
def test_demo_runs_to_the_end_with_exit(prefect_server: PrefectServer, adb_server: Any, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("EMUFLEET_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'state' / 'demo.db'}"
    db.upgrade(url)  # an earlier run of the demo: its launch stays in the history, its quarantine is lifted
    engine = db.engine(url)
    record_start(engine, "earlier-run", "demo", bots=4)
    record_end(engine, "earlier-run", "Completed")
    quarantine(engine, "instance", "local/127.0.0.1:5555", "9 fault(s) in the last 60 min")
    engine.dispose()
    result = invoke("demo", "--exit", "--instances", "2", "--max-accounts", "2")
    assert result.exit_code == 0, result.stdout
    assert "kept (the console's history shows the earlier runs)" in result.stdout
    assert "Prefect UI: " + prefect_server.ui_url in result.stdout
    assert "Fleet console: http://127.0.0.1:" in result.stdout  # beside the Prefect UI's
    assert "accounts completed:" in result.stdout and "steps per second" in result.stdout
    assert "recoveries: none" not in result.stdout, "the injected fault was recovered by a rung of the ladder"
    engine = create_engine(f"sqlite:///{tmp_path / 'state' / 'demo.db'}")
    with engine.connect() as conn:
        done = conn.scalar(select(func.count()).select_from(Account).where(Account.pool_status == "completed"))
        leased = conn.scalar(select(func.count()).select_from(Account).where(Account.lease_token.is_not(None)))
    launches = list_launches(engine, group="demo")
    assert [x.launch_id for x in launches][1:] == ["earlier-run"] and launches[0].accounts_completed == done
    assert active(engine) == []
    engine.dispose()
    assert 1 <= done <= 2 and leased == 0


@pytest.mark.slow
def test_demo_ctrl_c_through_a_dead_pipe_stops_its_servers(tmp_path: Path) -> None:
    """``make demo | tee log`` then Ctrl-C: tee dies with the same Ctrl-C, the demo's stdout becomes a broken pipe,
    and still the Prefect server and the adb server the demo started are stopped."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    from emufleet.process import pid_alive
    from emufleet.sim.adbserver import adb_server_running, free_port

    adb_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "EMUFLEET_DATABASE"))}
    env.update(EMUFLEET_STATE_DIR=str(tmp_path / "state"), ANDROID_ADB_SERVER_PORT=str(adb_port),
               HOME=str(tmp_path), PYTHONFAULTHANDLER="1")
    errors = tmp_path / "stderr.txt"  # `make demo | tee log` pipes stdout only; stderr stays the terminal's
    # Started with SIGINT ignored, as a child of a process that ignores it is (the suite's runner did once): the
    # demo's "press Ctrl-C" must still work.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    with errors.open("wb") as stderr:
        try:
            proc = subprocess.Popen([sys.executable, "-c", "from emufleet.cli import main; main()", "demo",
                                     "--instances", "1", "--max-accounts", "1", "--no-fault", "--port",
                                     str(free_port())],
                                    stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        finally:
            signal.signal(signal.SIGINT, before)
    assert proc.stdout is not None
    seen = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode(errors="replace")
            seen.append(line)
            if "press Ctrl-C" in line or not line:
                break
        assert any("press Ctrl-C" in s for s in seen), "".join(seen)
        record = json.loads((tmp_path / "state" / "prefect" / "server.json").read_text())
        assert pid_alive(record["pid"]) and adb_server_running(adb_port)
        proc.stdout.close()  # tee is gone: every later write of the demo hits a broken pipe
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler writes every thread's stack: where it hangs
            proc.wait(timeout=30)
            pytest.fail("the demo did not end within 120 s of Ctrl-C:\n" + errors.read_text(errors="replace")[-8000:])
        assert code == 0  # Ctrl-C is how the exploring phase ends: the launch succeeded
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()  # reaped: a killed Popen left unwaited warns when collected (at exit, if a report holds it)
    stop_by = time.monotonic() + 30
    while pid_alive(record["pid"], reap=True) and time.monotonic() < stop_by:
        time.sleep(0.1)
    assert not pid_alive(record["pid"]) and not adb_server_running(adb_port)
