"""Shared fixtures: an isolated real adb server, free simulator ports, and a simulator factory.

* ``adb_server`` (session): :func:`emufleet.sim.adbserver.isolated_adb_server` held for the whole session: the
  real adb server on a free ``ANDROID_ADB_SERVER_PORT`` with a temporary ``HOME``, both set in ``os.environ``, so
  the ``adb`` CLI run through ``subprocess`` and any ``adbutils.AdbClient()`` created *after* the fixture reach
  that server. Returns an ``adbutils.AdbClient`` bound to it. ``adb kill-server`` runs at teardown.
* ``shipped_routines`` (session): the shipped ``routines/`` loaded over the demo template set, all valid.
* ``free_base_port``: :func:`emufleet.sim.adbserver.find_free_base_port`, a base port such that ``base + 32·i``
  is free for ``i < 8`` (never handed out twice in a session, because the adb server keeps retrying ports it was
  connected to).
* ``simulator``: a factory ``simulator(instances=1, scenario=None, base_port=None, connect=True)`` returning a
  started :class:`emufleet.sim.Simulator` whose serials are ``adb connect``-ed and listed as ``device``; every
  simulator it made is disconnected and stopped at teardown. ``scenario=None`` means the demo scenario when it
  exists, else the suite's own test scenario (``tests/sim/data/basic``).

Marker ``postgres``: the test needs ``EMUFLEET_TEST_POSTGRES_URL`` (a database it may empty); skipped without it,
a failure when ``EMUFLEET_REQUIRE_POSTGRES=1`` (CI: ``.ci/run`` and ``make test-postgres`` start a throwaway
cluster with :mod:`emufleet.db.cluster`). Marker ``netns``: the test makes Linux network namespaces (root,
iproute2); skipped without them, a failure when ``EMUFLEET_REQUIRE_NETNS=1`` (CI).

``prefect_server`` (session) and ``fleet_home`` come from :mod:`tests.fleet`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest

# Prefect client code without the session server's URL must fail loudly, not start a temporary server of its own on
# a random port (found only when its process is collected, as a ResourceWarning failing an unrelated test).
os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "false"

from emufleet.sim.adbserver import find_free_base_port, isolated_adb_server
from flows.server import refresh_prefect_settings
from tests.fleet import fleet_home, prefect_server  # noqa: F401 - the session's Prefect fixtures, defined once

refresh_prefect_settings()  # in case a plugin imported Prefect before this file

if TYPE_CHECKING:
    import adbutils

    from emufleet.routines import RoutineRegistry
    from emufleet.sim import Simulator

# Property tests have no per-example deadline: on a loaded CI machine a 200 ms deadline fails correct code (a speed
# target is a benchmark's job, never a timed assertion).
hypothesis.settings.register_profile("emufleet", deadline=None)
hypothesis.settings.load_profile("emufleet")

REPO = Path(__file__).resolve().parent.parent
DEMO_SCENARIO = REPO / "emufleet" / "sim" / "scenarios" / "demo" / "scenario.yaml"
TEST_SCENARIO = REPO / "tests" / "sim" / "data" / "basic" / "scenario.yaml"


def default_scenario() -> str:
    """``"demo"`` once the demo scenario exists, else the path of the suite's own test scenario."""
    return "demo" if DEMO_SCENARIO.is_file() else str(TEST_SCENARIO)


@pytest.fixture(scope="session")
def adb_server() -> Iterator[adbutils.AdbClient]:
    """A real adb server on an isolated port and ``HOME``; an ``adbutils.AdbClient`` bound to it."""
    with isolated_adb_server() as client:
        yield client


@pytest.fixture(scope="session")
def shipped_routines() -> RoutineRegistry:
    """The shipped ``routines/`` over the demo template set (every file valid)."""
    from emufleet.routines import RoutineRegistry
    from emufleet.vision import TemplateSet

    registry = RoutineRegistry.load(REPO / "routines", TemplateSet.load(REPO / "templates" / "registry.yaml"))
    assert registry.invalid() == {}
    return registry


@pytest.fixture
def free_base_port() -> int:
    """A base port with ``base + 32·i`` free for ``i < 8``."""
    return find_free_base_port()


def wait_device_state(client: adbutils.AdbClient, serial: str, state: str = "device",
                      timeout_s: float = 15.0) -> None:
    """Poll the adb server until ``serial`` is listed with ``state`` (raise ``TimeoutError`` otherwise)."""
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = {info.serial: info.state for info in client.list()}.get(serial)
        if seen == state:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{serial}: still {seen!r} after {timeout_s} s, wanted {state!r}")


def connect_serial(client: adbutils.AdbClient, serial: str, timeout_s: float = 15.0) -> None:
    """``adb connect`` (checking the server's text, which never raises) and wait until listed as ``device``."""
    reply = client.connect(serial, timeout=timeout_s)
    if "connected to" not in reply or "failed" in reply or "unable" in reply:
        raise RuntimeError(f"adb connect {serial}: {reply}")
    wait_device_state(client, serial, "device", timeout_s)


@pytest.fixture
def simulator(adb_server: adbutils.AdbClient, free_base_port: int) -> Iterator[Callable[..., Simulator]]:
    """Factory: ``simulator(instances=1, scenario=None, base_port=None, connect=True)`` → started Simulator."""
    from emufleet.sim import Simulator

    made: list[Simulator] = []

    def factory(instances: int = 1, scenario: Any = None, base_port: int | None = None,
                connect: bool = True, **kwargs: Any) -> Simulator:
        if base_port is None:
            base_port = free_base_port if not made else find_free_base_port()
        sim = Simulator(instances=instances, scenario=scenario if scenario is not None else default_scenario(),
                        base_port=base_port, **kwargs)
        sim.start()
        made.append(sim)
        if connect:
            for inst in sim.instances:
                connect_serial(adb_server, inst.serial)
        return sim

    yield factory
    for sim in reversed(made):
        for inst in sim.instances:
            try:
                adb_server.disconnect(inst.serial)
            except Exception:  # teardown must stop every simulator, whatever the server says
                pass
        sim.stop()


# Tests that need an outside resource carry its marker; without the resource they are skipped (``-ra`` lists them),
# unless ``EMUFLEET_REQUIRE_<NAME>=1`` (CI) makes the skip a failure.
def _netns_missing() -> str | None:
    from tests.hosts.netns import netns_missing

    return netns_missing()


_RESOURCES = {
    "postgres": ("EMUFLEET_REQUIRE_POSTGRES", lambda: None if os.environ.get("EMUFLEET_TEST_POSTGRES_URL") else
                 "EMUFLEET_TEST_POSTGRES_URL not set (make test-postgres starts a throwaway PostgreSQL)"),
    "netns": ("EMUFLEET_REQUIRE_NETNS", _netns_missing),
}


# Two lanes for `pytest -n 2` (`make test`): these tests mostly wait (a lease expiring on the server's clock, a server
# outage, demos and hosts with servers of their own: ≈ 530 of 1580 s) and run in order in one worker, beside all the
# others in order in the other. Each worker is its own session (its own adb and Prefect servers). PostgreSQL tests
# share one database, so none of them may be here. Node id prefixes: the scheduler sees ids, not markers.
BESIDE = (
    "tests/hosts/test_host_death.py::",
    "tests/hosts/test_two_hosts.py::",
    "tests/flows/test_fencing.py::",
    "tests/flows/test_control.py::test_a_killed_launch_process_lease_and_lock_expire",
    "tests/flows/test_cli.py::test_demo_",
    "tests/flows/test_server_cli.py::test_server_start_with_the_url_exported_starts_it_there",
    "tests/flows/test_events.py::test_an_outage_never_fails_the_emitter_and_events_flow_again_after_it",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's scheduler by scope, with two scopes: :data:`BESIDE` and the rest (``--dist loadgroup`` would do it
    with markers, but its group suffix is lost on pytest 9's node ids)."""
    from xdist.scheduler import LoadScopeScheduling

    class Lanes(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return "beside" if nodeid.startswith(BESIDE) else "main"

    return Lanes(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid.startswith(BESIDE) and item.get_closest_marker("postgres"):
            raise pytest.UsageError(f"{item.nodeid}: a PostgreSQL test cannot run beside the others (BESIDE)")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, (required, missing) in _RESOURCES.items():
        if item.get_closest_marker(marker) is None or (reason := missing()) is None:
            continue
        if os.environ.get(required) == "1":
            pytest.fail(f"{required}=1 but {reason}", pytrace=False)
        pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    """CI sets ``EMUFLEET_REQUIRE_SEED_ASSETS=1``: the seed corpus must be there, never silently skipped.

    Launches here are about something else than the host's load: the CPU check of their launch gate is off
    (``EMUFLEET_RESOURCES``; the suite keeps a 2-core machine at 100 %); tests of resource-aware launching set
    their host's thresholds in its ``hosts/local.yaml``, which wins."""
    from emufleet.resources.settings import ENV
    from emufleet.settings import seed_assets_dir

    os.environ.setdefault(ENV, '{"max_cpu_percent": 100}')

    if os.environ.get("EMUFLEET_REQUIRE_SEED_ASSETS") == "1" and not seed_assets_dir().is_dir():
        pytest.exit(f"seed assets required but not found at {seed_assets_dir()} (EMUFLEET_SEED_ASSETS)", returncode=4)
