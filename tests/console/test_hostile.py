"""Issue 23 item 17: the console's pool test never lists or reads files outside the account folders."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fleet import FleetHome


def test_pool_test_paths_stay_inside_the_account_folders(make_client: Callable[..., Any],
                                                         fleet_home: FleetHome) -> None:
    client = make_client()
    for watched in (["/etc"], ["../../../../../../etc"], ["../accounts", "/"]):
        reply = client.post("/api/pools/test", json={"pool_name": "probe", "watched_paths": watched})
        assert reply.status_code == 422 and "outside the account folders" in reply.text, reply.text
        assert "passwd" not in reply.text
    inside = [str(fleet_home.root / "accounts")]
    ok = client.post("/api/pools/test", json={"pool_name": "probe", "watched_paths": inside})
    assert ok.status_code == 200 and ok.json()["total"] == len(fleet_home.accounts), ok.text
    fragment = client.post("/pools/_test", data={"original": "_new", "p.pool_name": "probe",
                                                 "p.watched_paths": "/etc"})
    assert "outside the account folders" in fragment.text and 'data-count=""' in fragment.text
    saved = client.post("/api/pools", json={"pool_name": "probe", "watched_paths": ["/etc"]})
    assert saved.status_code == 422 and not (fleet_home.root / "pools" / "probe.yaml").exists()
