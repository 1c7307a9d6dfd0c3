"""The isolated adb server and the free base ports every suite and benchmark runs on."""

from __future__ import annotations

import os
from pathlib import Path

from emufleet.sim import PORT_STRIDE
from emufleet.sim.adbserver import find_free_base_port, isolated_adb_server


def test_isolated_adb_server_runs_on_its_own_port_and_home_then_restores_the_environment() -> None:
    before = dict(os.environ)
    with isolated_adb_server() as client:
        assert client.port == int(os.environ["ANDROID_ADB_SERVER_PORT"]) != 5037
        home = Path(os.environ["HOME"])
        assert home.is_dir() and home != Path(before.get("HOME", "/nonexistent"))
        assert client.server_version() > 0
        assert "ANDROID_SERIAL" not in os.environ
    assert dict(os.environ) == before
    assert not home.exists()


def test_base_ports_are_never_handed_out_twice() -> None:
    ports = [{base + PORT_STRIDE * i for i in range(3)} for base in (find_free_base_port(3) for _ in range(20))]
    assert len(set().union(*ports)) == 3 * 20
