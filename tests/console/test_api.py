"""The console's REST API and operations endpoints against a real SQLite file and the session's Prefect server."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from sqlalchemy import update

from emufleet.db import Account
from tests.fleet import FleetHome

pytestmark = pytest.mark.prefect

GROUP = {"name": "api-group", "routine": "test/cycle", "backend": "adb", "instances": [0, 1], "bots": 1,
         "pools": ["test"], "launch": {"stagger": 0}}


def test_health_and_readiness_report_each_dependency(client: Any, adb_server: Any) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    reply = client.get("/ready")
    checks = reply.json()["checks"]
    assert set(checks) == {"database", "prefect", "adb"}
    assert checks["database"]["ok"] and checks["prefect"]["ok"], checks
    assert checks["adb"]["ok"], checks  # the session's isolated adb server (ANDROID_ADB_SERVER_PORT)
    assert reply.status_code == 200 and reply.json()["ready"] is True


def test_ready_is_503_naming_the_prefect_api_when_it_is_down(make_client: Any, monkeypatch: Any) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from emufleet.sim.adbserver import free_port

    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        reply = make_client().get("/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"]["prefect"] == {"ok": False, "detail": dead}


def test_group_definitions_crud_with_located_errors(client: Any, fleet_home: FleetHome) -> None:
    created = client.post("/api/groups", json=GROUP)
    assert created.status_code == 201, created.text
    assert created.json()["created_at"]  # stamped by the store
    assert yaml.safe_load((fleet_home.root / "groups" / "api-group.yaml").read_text())["bots"] == 1
    assert client.post("/api/groups", json=GROUP).status_code == 422  # exists: the store refuses to overwrite

    bad = client.post("/api/groups/validate", json={**GROUP, "bots": 3, "launch": {"stagger": "soon"}}).json()
    assert not bad["valid"]
    fields = {e["field"] for e in bad["errors"]}
    assert "launch.stagger" in fields, bad
    invalid = client.put("/api/groups/api-group", json={**GROUP, "bots": 0})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["field"] == "bots" and invalid.json()["errors"][0]["line"] is None

    renamed = client.put("/api/groups/api-group", json={**GROUP, "name": "api-renamed", "bots": 2})
    assert renamed.status_code == 200 and renamed.json()["bots"] == 2
    assert client.get("/api/groups/api-group").status_code == 422  # gone under its old name
    names = [g["name"] for g in client.get("/api/groups").json()["groups"]]
    assert names == ["api-renamed"]
    assert client.delete("/api/groups/api-renamed").status_code == 204
    assert client.get("/api/groups").json()["groups"] == []


def test_control_of_a_group_that_is_not_running_is_409(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.group("idle")
    reply = client.post("/api/groups/idle/pause")
    assert reply.status_code == 409 and "not running" in reply.json()["detail"]
    assert client.post("/api/groups/idle/launch", json={"bots": 5}).status_code == 422  # bots > instances


def test_pool_create_test_edit_accounts_and_delete(client: Any, fleet_home: FleetHome) -> None:
    fleet_home.engine()  # the fixture's database holds no accounts yet: the refresh imports the watched folder
    assert client.post("/api/pools/test/refresh").json()["members"] == 6
    pool = {"pool_name": "few", "description": "two of them", "queries": [{"name": "q", "filters": [
        {"column": "device_account", "comparator": "IN", "value": fleet_home_accounts(fleet_home)[:2]}]}]}
    tested = client.post("/api/pools/test", json=pool).json()
    assert tested["total"] == 2 and len(tested["sample"]) == 2
    bad = client.post("/api/pools/test", json={**pool, "queries": [{"name": "q", "filters": [
        {"column": "packs_opened", "comparator": ">=", "value": "many"}]}]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "queries[0].filters[0].value"

    assert client.post("/api/pools", json=pool).status_code == 201
    assert (fleet_home.root / "pools" / "few.yaml").is_file()
    wider = {**pool, "queries": [{"name": "q", "filters": [
        {"column": "device_account", "comparator": "LIKE", "value": "demo_%"}]}]}
    assert client.put("/api/pools/few", json=wider).status_code == 200
    assert client.post("/api/pools/few/test").json()["total"] == 6
    assert client.post("/api/pools/few/refresh").json()["members"] == 6
    listed = {p["pool_name"]: p["stats"] for p in client.get("/api/pools").json()}
    assert listed["few"]["total"] == 6 and listed["few"]["last_refresh"]

    page = client.get("/api/pools/few/accounts", params={"sort": "device_account", "desc": True, "limit": 4}).json()
    assert page["total"] == 6 and len(page["rows"]) == 4
    names = [r["device_account"] for r in page["rows"]]
    assert names == sorted(fleet_home_accounts(fleet_home), reverse=True)[:4]
    second = client.get("/api/pools/few/accounts", params={"sort": "device_account", "desc": True, "limit": 4,
                                                           "offset": 4}).json()
    assert len(second["rows"]) == 2
    assert client.delete("/api/pools/few").status_code == 204
    assert not (fleet_home.root / "pools" / "few.yaml").exists()
    assert client.get("/api/pools/few").status_code == 422


def fleet_home_accounts(home: FleetHome) -> list[str]:
    from emufleet.accounts import read_account_file

    return sorted(read_account_file(p).device_account for p in (home.root / "accounts").glob("*.xml"))


def test_accounts_search_detail_and_reset(client: Any, fleet_home: FleetHome) -> None:
    client.post("/api/pools/test/refresh")
    name = fleet_home_accounts(fleet_home)[0]
    with fleet_home.engine().begin() as conn:
        conn.execute(update(Account).where(Account.device_account == name)
                     .values(pool_status="completed", failure_count=2, last_error="boom", packs_opened=7))
    found = client.get("/api/accounts", params={"q": name[:-3].upper(), "sort": "packs_opened", "desc": True})
    assert found.json()["rows"][0]["device_account"] == name  # case-insensitive substring, most packs first
    completed = client.get("/api/accounts", params={"state": "completed"}).json()
    assert [r["device_account"] for r in completed["rows"]] == [name]
    assert client.get("/api/accounts", params={"sort": "device_password"}).status_code == 422  # not whitelisted

    detail = client.get(f"/api/accounts/{name}").json()
    assert detail["pool_status"] == "completed" and detail["pools"] == ["test"]
    assert client.post(f"/api/accounts/{name}/reset").json()["message"].endswith("reset to available")
    after = client.get(f"/api/accounts/{detail['id']}").json()
    assert (after["pool_status"], after["failure_count"], after["last_error"]) == ("available", 0, None)
    assert client.get("/api/accounts/nobody@nowhere").status_code == 422


def test_routines_list_and_validate_with_located_errors(client: Any, fleet_home: FleetHome) -> None:
    listed = client.get("/api/routines").json()
    keys = {r["key"] for r in listed["routines"]}
    assert {"test/cycle", "test/long_step"} <= keys
    assert client.post("/api/routines/validate").json()["valid"] is True
    (fleet_home.root / "routines" / "test" / "broken.yaml").write_text(
        "steps:\n  - action: Sleep\n    duration: -1s\n", encoding="utf-8")
    result = client.post("/api/routines/validate").json()
    assert not result["valid"]
    (error,) = result["errors"]
    assert error["file"].endswith("broken.yaml") and error["line"] == 3 and "steps[0]" in error["field"]


def test_metrics_in_prometheus_format(client: Any, fleet_home: FleetHome) -> None:
    client.post("/api/pools/test/refresh")
    reply = client.get("/metrics")
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    text = reply.text
    assert 'emufleet_accounts{state="available"} 6.0' in text
    assert 'emufleet_pool_accounts{pool="test",state="available"} 6.0' in text
    assert "emufleet_leases_held 0.0" in text and "emufleet_prefect_up 1.0" in text
    assert "process_cpu_seconds_total" in text


def test_openapi_lists_the_api(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/groups", "/api/groups/{name}/launch", "/api/pools/{name}/accounts", "/api/accounts/{key}/reset",
                 "/api/instances", "/api/bots", "/api/routines/validate", "/health", "/ready", "/metrics",
                 "/api/groups/{name}/restart-app", "/api/groups/{name}/restart-instance"):
        assert path in paths, path


def test_a_page_offset_past_the_databases_integer_range_is_refused_not_a_500(client: Any) -> None:
    assert client.get("/api/accounts", params={"offset": 2**63}).status_code == 422  # found by the API fuzzing
    last = client.get("/api/accounts", params={"offset": 2**63 - 1})
    assert last.status_code == 200 and last.json()["rows"] == [], last.text


def test_a_snapshot_of_a_serial_adb_does_not_list_is_refused_at_once(client: Any, adb_server: Any) -> None:
    """Not a wait for the connect timeout: the console's fuzz test held a request 10 s on ``?serial=0``."""
    reply = client.post("/api/capture/snapshot", params={"serial": "emulator-0"})
    assert reply.status_code == 422
    assert "lists no such ready device" in reply.json()["detail"]
