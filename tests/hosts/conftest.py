"""Fixtures of the multi-host tests: two hosts as network namespaces, and the services they share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hosts.multihost import Shared, shared_services
from tests.hosts.netns import NetnsHost, host_namespaces


@pytest.fixture
def hosts() -> Iterator[list[NetnsHost]]:
    """``hosta`` and ``hostb``, each a network namespace routed to the root namespace (removed after)."""
    with host_namespaces(["hosta", "hostb"]) as made:
        yield made


@pytest.fixture
def shared(hosts: list[NetnsHost], tmp_path: Path) -> Iterator[Shared]:
    """PostgreSQL (accounts + Prefect) and a Prefect server on it, on the hub address every host reaches."""
    with shared_services(hosts, tmp_path) as services:
        yield services
