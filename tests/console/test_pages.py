"""The console's pages (server-rendered, no JavaScript needed) and its access rules, through the TestClient."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from console.forms import nest
from emufleet.errors import InputError
from tests.fleet import FleetHome

pytestmark = pytest.mark.prefect


def test_nest_builds_the_definition_from_form_names() -> None:
    pairs = [("p.queries[0].name", "q"), ("p.queries[0].filters[1004].column", "packs_opened"),
             ("p.queries[0].filters[2].column", "shinedust"), ("p.queries[0].filters[2].enabled", "false"),
             ("p.queries[0].filters[2].enabled", "true"), ("p.config.retry_failed", "true"), ("other", "x")]
    assert nest(pairs, prefix="p") == {"queries": [{"name": "q", "filters": [
        {"column": "shinedust", "enabled": "true"}, {"column": "packs_opened"}]}], "config": {"retry_failed": "true"}}


def test_every_page_renders(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("shown", description="a group to show")
    client.post("/api/pools/test/refresh")
    for path, text in (("/groups", "shown"), ("/groups/shown", "was last refreshed"), ("/groups/new", "New group"),
                       ("/instances", "Inactive"), ("/pools", "six demo accounts"), ("/pools/test", "Matching"),
                       ("/pools/test?tab=accounts", "demo_01"), ("/pools/test?tab=stats", "last refresh"),
                       ("/pools/new", "New pool"), ("/routines", "test/cycle"), ("/accounts", "6 accounts"),
                       ("/accounts/1", "Routine executions")):
        reply = client.get(path)
        assert reply.status_code == 200, (path, reply.text[-500:])
        assert text in reply.text, path
    home = client.get("/")
    assert home.status_code == 200 and "Dashboard" in home.text and 'data-count="running"' in home.text


def test_group_editor_shows_located_errors_inline_and_saves(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("edit-me", instances=[0, 1])
    form = {"g.name": "edit-me", "g.routine": "test/cycle", "g.instances": "0, 1", "g.bots": "3",
            "g.launch.stagger": "soon", "action": "save"}
    reply = client.post("/groups/edit-me", data=form)
    assert reply.status_code == 422
    assert 'data-error-for="launch.stagger"' in reply.text  # next to its input
    too_many = client.post("/groups/edit-me", data={**form, "g.launch.stagger": "1s"})
    assert too_many.status_code == 422 and "bots (3) exceeds the number of instances (2)" in too_many.text
    saved = client.post("/groups/edit-me", data={**form, "g.bots": "2", "g.launch.stagger": "1s"},
                        follow_redirects=False)
    assert saved.status_code == 303
    data = yaml.safe_load((fleet_home.root / "groups" / "edit-me.yaml").read_text())
    assert data["bots"] == 2 and data["launch"]["stagger"] == 1.0
    assert data["launch"]["restart_policy"]["mode"] == "never"  # kept: not a field the form changed
    copy = client.post("/groups/edit-me", data={**form, "g.bots": "1", "g.launch.stagger": "0", "action": "copy",
                                                "copy_name": "edit-copy"}, follow_redirects=False)
    assert copy.headers["location"].startswith("/groups/edit-copy")
    assert (fleet_home.root / "groups" / "edit-copy.yaml").is_file()
    assert client.post("/groups/edit-copy", data={"action": "delete"}).status_code == 200
    assert not (fleet_home.root / "groups" / "edit-copy.yaml").exists()


def test_group_yaml_tab_edits_the_whole_file_and_shows_its_syntax_error(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("raw")
    reply = client.post("/groups/raw", data={"yaml": "name: raw\nbots: [1\n", "action": "save"})
    assert reply.status_code == 422 and "YAML" in reply.text and "line 3" in reply.text
    text = (fleet_home.root / "groups" / "raw.yaml").read_text().replace("bots: 1", "bots: 1\ndescription: via yaml")
    assert client.post("/groups/raw", data={"yaml": text, "action": "save"}, follow_redirects=False).status_code == 303
    assert yaml.safe_load((fleet_home.root / "groups" / "raw.yaml").read_text())["description"] == "via yaml"


def test_pool_editor_test_button_and_live_fragment(client: Any, fleet_home: FleetHome) -> None:
    client.post("/api/pools/test/refresh")
    form = {"original": "test", "p.has_queries": "1", "p.pool_name": "test", "p.queries[0].name": "open",
            "p.queries[0].filters[0].column": "device_account", "p.queries[0].filters[0].comparator": "IN",
            "p.queries[0].filters[0].value": "demo_01@emufleet.invalid, demo_02@emufleet.invalid",
            "p.watched_paths": ""}  # the watched folder would bring in all six
    fragment = client.post("/pools/_test", data=form)
    assert 'data-count="2"' in fragment.text
    bad = client.post("/pools/_test", data={**form, "p.queries[0].filters[0].column": "device_password"})
    assert "unknown column" in bad.text and 'data-count=""' in bad.text
    page = client.post("/pools/test", data={**form, "action": "test"})
    assert page.status_code == 200 and 'data-count="2"' in page.text
    assert yaml.safe_load((fleet_home.root / "pools" / "test.yaml").read_text())["queries"][0]["filters"][0][
        "comparator"] == "LIKE"  # testing saves nothing


def test_accounts_table_sorts_and_pages_server_side(client: Any, fleet_home: FleetHome) -> None:
    client.post("/api/pools/test/refresh")
    first = client.get("/accounts", params={"sort": "device_account", "desc": "1", "size": "4"}).text
    assert "page 1 / 2" in first and first.index("demo_06") < first.index("demo_03")
    assert "demo_01" not in first.split('id="accounts-table"')[1]
    second = client.get("/accounts", params={"sort": "device_account", "desc": "1", "size": "4", "page": "2"}).text
    assert "demo_01" in second and "page 2 / 2" in second


def test_a_cross_site_post_is_refused(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("target")
    evil = client.post("/groups/target", data={"action": "delete"}, headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403
    sibling = client.post("/api/groups/target/stop", headers={"Sec-Fetch-Site": "same-site"})
    assert sibling.status_code == 403
    assert (fleet_home.root / "groups" / "target.yaml").is_file()
    same = client.post("/api/groups/validate", json={"name": "x"}, headers={"Origin": "http://127.0.0.1"})
    assert same.status_code == 200


def test_without_a_token_only_loopback_host_names_are_answered(client: Any) -> None:
    assert client.get("/health", headers={"Host": "rebound.example"}).status_code == 400
    assert client.get("/health", headers={"Host": "localhost:4300"}).status_code == 200


def test_a_token_protects_everything_but_health(make_client: Any, prefect_server: Any) -> None:
    guarded = make_client(host="0.0.0.0", token="s3cret")
    assert guarded.get("/health", headers={"Host": "fleet.lan"}).status_code == 200
    assert guarded.get("/api/groups", headers={"Host": "fleet.lan"}).status_code == 401
    assert guarded.get("/api/groups", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/login", params={"token": "wrong"}).status_code == 401
    login = guarded.get("/login", params={"token": "s3cret", "next": "//evil.example"}, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/"
    assert "samesite=strict" in login.headers["set-cookie"].lower()
    assert guarded.get("/groups").status_code == 200  # the cookie now
    with pytest.raises(InputError, match="token"):
        make_client(host="0.0.0.0", token=None)
