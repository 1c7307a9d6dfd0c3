"""Schema-driven fuzzing of the REST API (schemathesis): whatever the request, never a 5xx.

Every operation of ``/openapi.json`` gets generated path parameters, queries and bodies (definitions of random
shape, unknown group and pool names, out-of-range pages …) against a private project root and its SQLite file,
with the session's Prefect server. ``/ready`` is left out: its 503 is its documented answer when a dependency is
down.
"""

from __future__ import annotations

from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402

from console import ConsoleConfig, create_app  # noqa: E402
from tests.fleet import FleetHome  # noqa: E402

pytestmark = pytest.mark.prefect


def test_no_request_gets_a_server_error(fleet_home: FleetHome, prefect_server: Any) -> None:
    # Operations are walked here, not through schemathesis' pytest plugin (its collection breaks on pytest 9).
    fleet_home.group("fuzzed")  # one real group and pool among the generated names
    app = create_app(ConsoleConfig(prefect_ui_url=prefect_server.ui_url))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers={"Host": "127.0.0.1"})
    operations = [result.ok() for result in schema.exclude(path="/ready").get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case: Any) -> None:
            response = case.call(headers={"Host": "127.0.0.1"})
            assert response.status_code < 500, (case.method, case.formatted_path, response.status_code,
                                                response.text[:500])

        call()
