"""Launching an unknown or invalid group says so, naming the group and its errors — through the flow, the CLI and
the console's API (issue 22 item 4: a bare ``except ValueError`` reported an unknown group as "overrides
rejected"). Invalid: a group file with errors (each located) or overrides the group refuses."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.groups import LaunchOverrides
from flows.launch_group import launch_group
from flows.server import PrefectServer
from tests.fleet import FleetHome

pytestmark = pytest.mark.prefect

#: A group file with two errors, at lines 3 and 4.
BROKEN = "name: broken\ninstances: [0]\nbots: many\nroutine: 7\n"


def _broken(fleet_home: FleetHome) -> str:
    (fleet_home.root / "groups" / "broken.yaml").write_text(BROKEN, encoding="utf-8")
    return "broken.yaml:3:7: bots: Input should be a valid integer"


def test_the_flow_names_an_unknown_group_and_an_invalid_override(prefect_server: PrefectServer,
                                                                  fleet_home: FleetHome) -> None:
    fleet_home.group("known")
    unknown = asyncio.run(launch_group("no-such-group", return_state=True))
    assert unknown.is_failed()
    assert "no group named 'no-such-group'" in (unknown.message or "") and "known" in (unknown.message or "")
    assert "overrides" not in (unknown.message or "")
    where = _broken(fleet_home)
    broken = asyncio.run(launch_group("broken", return_state=True))
    assert broken.is_failed() and where in (broken.message or "") and "4:10: routine" in (broken.message or "")
    invalid = asyncio.run(launch_group("known", LaunchOverrides(bots=3), return_state=True))
    assert invalid.is_failed()
    message = invalid.message or ""
    assert "group known with overrides" in message and "bots" in message, message


def test_the_cli_names_an_unknown_group_and_an_invalid_override(fleet_home: FleetHome) -> None:
    fleet_home.group("known")
    runner = CliRunner()
    unknown = runner.invoke(app, ["groups", "launch", "no-such-group", "--no-watch"], catch_exceptions=False)
    assert unknown.exit_code == 1 and "no group named 'no-such-group'" in unknown.stderr
    where = _broken(fleet_home)
    broken = runner.invoke(app, ["groups", "launch", "broken", "--no-watch"], catch_exceptions=False)
    assert broken.exit_code == 1 and where in broken.stderr and "4:10: routine" in broken.stderr, broken.stderr
    invalid = runner.invoke(app, ["groups", "launch", "known", "--bots", "3", "--no-watch"], catch_exceptions=False)
    assert invalid.exit_code == 1 and "group known with overrides" in invalid.stderr and "bots" in invalid.stderr
    refused = runner.invoke(app, ["groups", "launch", "known", "--instances", "bad host/1", "--no-watch"],
                            catch_exceptions=False)  # an instance the group cannot place
    assert refused.exit_code == 1 and "group known with overrides: instances: host name" in refused.stderr
    negative = runner.invoke(app, ["groups", "launch", "known", "--bots", "-1", "--no-watch"], catch_exceptions=False)
    # refused by the option's own bounds: a usage error (exit 2) naming the option, never a traceback
    assert negative.exit_code == 2 and "bots" in negative.stderr and "Traceback" not in negative.stderr


def test_the_api_names_an_unknown_group_and_an_invalid_override(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("known")
    unknown = client.post("/api/groups/no-such-group/launch")
    assert unknown.status_code == 422 and "no group named 'no-such-group'" in unknown.json()["detail"]
    where = _broken(fleet_home)
    broken = client.post("/api/groups/broken/launch")
    assert broken.status_code == 422 and where in broken.json()["detail"], broken.text
    assert [(e["field"], e["line"]) for e in broken.json()["errors"]] == [("bots", 3), ("routine", 4)], broken.text
    invalid = client.post("/api/groups/known/launch", json={"bots": 3})
    detail = invalid.json()["detail"]
    assert invalid.status_code == 422 and "group known with overrides" in detail and "bots" in detail, detail


def test_the_groups_page_names_an_unknown_group_and_an_invalid_override(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("known")
    unknown = client.post("/groups/no-such-group/launch", data={})
    assert unknown.status_code == 422 and "no group named &#39;no-such-group&#39;" in unknown.text
    for form, field in (({"o.bots": "3"}, "bots"), ({"o.stagger": "1e300"}, "stagger")):  # the group's, the model's
        invalid = client.post("/groups/known/launch", data=form)
        assert invalid.status_code == 422 and "group known with overrides" in invalid.text, invalid.text[-2000:]
        assert field in invalid.text
