"""Fixtures of the multi-host tests: two hosts as network namespaces, and the services they share.

The namespaces, PostgreSQL and the Prefect server are started once for the package (≈ 20 s each time on a busy
2-core CI), and the ``run-bot`` deployment made once (``run_bot``); each test gets its own accounts database on that
cluster (``shared``), and names its groups apart."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from tests.hosts.multihost import REPO, Shared, deploy_run_bot, host_env, own_accounts, shared_services
from tests.hosts.netns import NetnsHost, host_namespaces

_DATABASES = itertools.count(1)


@pytest.fixture(scope="package")
def hosts() -> Iterator[list[NetnsHost]]:
    """``hosta`` and ``hostb``, each a network namespace routed to the root namespace (removed after)."""
    with host_namespaces(["hosta", "hostb"]) as made:
        yield made


@pytest.fixture(scope="package")
def shared_server(hosts: list[NetnsHost], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    """PostgreSQL (accounts + Prefect) and a Prefect server on it, on the hub address every host reaches."""
    with shared_services(hosts, tmp_path_factory.mktemp("shared")) as services:
        yield services


@pytest.fixture
def shared(shared_server: Shared) -> Shared:
    """The shared services, with an accounts database of this test's own."""
    return own_accounts(shared_server, f"accounts_{next(_DATABASES)}")


@pytest.fixture(scope="package")
def run_bot(hosts: list[NetnsHost], shared_server: Shared, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The work pool ``emufleet`` and the ``run-bot`` deployment on the shared server, made from ``hosta``."""
    deploy_run_bot(hosts[0], host_env(hosts[0], REPO, shared_server, tmp_path_factory.mktemp("deploy")))
