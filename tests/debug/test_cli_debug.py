"""``emufleet routines debug`` on the simulator with the session's Prefect server: a breakpoint added at the prompt,
continue to it, a step over with the verdicts, the overlay written, stop; and a refused instance while another run
holds its lock; a serial that names no instance refused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.fleet import REPO, FleetHome

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def test_routines_debug_steps_on_the_prompt_and_respects_a_held_lock(
        simulator: Callable[..., Any], prefect_server: Any, fleet_home: FleetHome, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from emufleet.cli import app

    for key, value in {"PREFECT_API_URL": prefect_server.api_url, "PREFECT_UI_URL": prefect_server.ui_url,
                       "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30"}.items():
        monkeypatch.setenv(key, value)  # use_server sets them: restored after the test
    inst = simulator(instances=1, scenario="demo").instances[0]
    args = ["routines", "debug", "demo/reach_home", "--serial", inst.serial, "--routines-root", str(REPO / "routines"),
            "--frames", str(tmp_path / "frames")]
    prompt = f"b steps[1].actions[0]\nc\nv\nn\nw {tmp_path / 'now.png'}\nq\n"
    result = CliRunner().invoke(app, args, input=prompt)
    out = result.output
    assert result.exit_code == 0, out
    assert "-- pause 1 (entry) before demo/reach_home:steps[0] SetVariable" in out
    assert "-- pause 2 (breakpoint) before demo/reach_home:steps[1].actions[0] If" in out
    assert "calm_left = '6'" in out
    assert "-- pause 3 (breakpoint)" in out and "AppIcon 1.00 >= 0.80: found at (" in out
    assert (tmp_path / "now.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[-1] == "pause-003.png"
    assert out.rstrip().endswith("stopped: demo/reach_home")

    async def hold_and_try() -> Any:  # another run holds the instance: the debugger refuses it
        from prefect.client.orchestration import get_client

        from adapters.locks import release, try_acquire
        from emufleet.hosts import InstanceId, this_host

        async with get_client() as client:
            lock = await try_acquire(client, InstanceId(this_host(), inst.serial), holder=None)
            assert lock is not None, "the debugger released the instance when it ended"
            try:
                return await asyncio.to_thread(CliRunner().invoke, app, args, input="q\n")
            finally:
                await release(client, lock)

    refused = asyncio.run(hold_and_try())
    assert refused.exit_code == 1 and "is locked by" in refused.output, refused.output
    assert "pause 1" not in refused.output

    bad = CliRunner().invoke(app, [*args[:3], "--serial", "hostb/127.0.0.1:16384", *args[5:]], input="q\n")
    assert bad.exit_code == 2 and "1–255 characters, no '/'" in bad.output, bad.output  # a serial, not an instance key
