"""Issue 23 item 16: ``groups stop`` of a group that is not defined fails (it said "0 flow run(s)", exit 0), on the
command line and on the console's API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from typer.testing import CliRunner

from emufleet.cli import app
from flows.server import PrefectServer
from tests.fleet import FleetHome


def test_stop_of_an_unknown_group_fails(prefect_server: PrefectServer, fleet_home: FleetHome,
                                        make_client: Callable[..., Any]) -> None:
    result = CliRunner().invoke(app, ["groups", "stop", "no-such-group"])
    assert result.exit_code == 1 and "no group named 'no-such-group'" in result.stderr, result.output
    fleet_home.group("idle")
    assert CliRunner().invoke(app, ["groups", "stop", "idle"]).exit_code == 0  # known, not running: nothing to do
    reply = make_client().post("/api/groups/no-such-group/stop")
    assert reply.status_code == 422 and "no group named" in reply.text
