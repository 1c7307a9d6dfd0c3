"""The isolated adb server and the free base ports every suite and benchmark runs on."""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from emufleet.sim import PORT_STRIDE
from emufleet.sim.adbserver import adb_server_env, find_free_base_port, isolated_adb_server


def test_isolated_adb_server_runs_on_its_own_port_and_home_then_restores_the_environment() -> None:
    before = dict(os.environ)
    with isolated_adb_server() as client:
        assert client.port == int(os.environ["ANDROID_ADB_SERVER_PORT"]) != 5037
        home = Path(os.environ["HOME"])
        assert home.is_dir() and home != Path(before.get("HOME", "/nonexistent"))
        assert client.server_version() > 0
        assert "ANDROID_SERIAL" not in os.environ
        server = [p for p in psutil.process_iter(["cmdline"])
                  if "fork-server" in (p.info["cmdline"] or []) and f"tcp:{client.port}" in p.info["cmdline"]]
        assert [p.environ().get("ADB_LIBUSB") for p in server] == ["0"]  # no 3 s wait for a USB scan
    assert dict(os.environ) == before
    assert not home.exists()


def test_base_ports_are_never_handed_out_twice() -> None:
    ports = [{base + PORT_STRIDE * i for i in range(3)} for base in (find_free_base_port(3) for _ in range(20))]
    assert len(set().union(*ports)) == 3 * 20


def test_the_adb_server_environment_keeps_a_usb_backend_the_user_chose() -> None:
    assert adb_server_env({"PATH": "/bin"}) == {"PATH": "/bin", "ADB_LIBUSB": "0"}
    assert adb_server_env({"ADB_LIBUSB": "1"})["ADB_LIBUSB"] == "1"
