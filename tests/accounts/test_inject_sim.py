"""Inject then extract over the real adb server against the simulator (digest §7.2, §7.4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from emufleet import accounts
from emufleet.accounts import AccountCredentials, parse_account_xml, render_account_xml
from emufleet.cli import app
from emufleet.errors import DeviceError
from emufleet.settings import GAME, data_dir


def _device(simulator: Callable[..., Any]) -> tuple[Any, Any]:
    from emufleet.device import connect

    sim = simulator(instances=1)
    inst = sim.instances[0]
    return inst, connect(inst.serial, timeout_s=15)


def test_inject_then_extract_returns_the_same_account(simulator: Callable[..., Any]) -> None:
    inst, device = _device(simulator)
    creds = accounts.read_account_file(data_dir("accounts") / "demo_03.xml")
    accounts.inject(device, creds)
    assert accounts.extract(device) == creds
    assert parse_account_xml(inst.read_file(GAME.prefs_path)) == creds   # the game's own file, not a copy
    assert device.shell(f"ls {GAME.staging_path}").exit_code != 0        # staging removed
    # Order on the device: force-stop, write the prefs file, start the game (one canonical command).
    steps = [(e.kind, e.detail.get("action"), e.detail.get("package") or e.detail.get("path")) for e in inst.events
             if e.kind == "am" or (e.kind == "file" and e.detail.get("path") == GAME.prefs_path)]
    assert steps[-3:] == [("am", "force-stop", GAME.package), ("file", None, GAME.prefs_path),
                          ("am", "start", GAME.package)]
    assert [e.detail["activity"] for e in inst.events if e.kind == "am" and e.detail["action"] == "start"] == [
        GAME.activity]
    assert inst.state != "launcher"                                       # the game is running again


def test_reinjection_replaces_the_account(simulator: Callable[..., Any]) -> None:
    _, device = _device(simulator)
    for name in ("first@test.invalid", "second@test.invalid"):
        accounts.inject(device, AccountCredentials(name, "pw"), launch=False)
    assert accounts.extract(device).device_account == "second@test.invalid"


class _WrongFileDevice:
    """A stand-in over a real device whose pushes land another account's file (a device that lies)."""

    def __init__(self, device: Any) -> None:
        self._device = device

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)

    def push(self, data: bytes, remote_path: str) -> None:
        self._device.push(render_account_xml(AccountCredentials("someone_else@test.invalid", "x")), remote_path)


def test_a_mismatch_read_back_fails_the_injection_before_launch(simulator: Callable[..., Any]) -> None:
    inst, device = _device(simulator)
    starts_before = sum(1 for e in inst.events if e.kind == "am" and e.detail.get("action") == "start")
    with pytest.raises(DeviceError, match="read back as 'someone_else@test.invalid'"):
        accounts.inject(_WrongFileDevice(device), AccountCredentials("me@test.invalid", "pw"))
    assert sum(1 for e in inst.events if e.kind == "am" and e.detail.get("action") == "start") == starts_before


def test_extract_without_an_account_file_is_a_device_error(simulator: Callable[..., Any]) -> None:
    inst, device = _device(simulator)
    device.su(f"rm -f '{GAME.prefs_path}'")
    with pytest.raises(DeviceError, match="no readable account file"):
        accounts.extract(device)


def test_cli_inject_and_extract(simulator: Callable[..., Any], tmp_path: Any,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    inst, _ = _device(simulator)
    monkeypatch.setenv("EMUFLEET_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0  # only `db upgrade` creates a database
    src = data_dir("accounts") / "demo_07.xml"
    result = runner.invoke(app, ["accounts", "import", str(src)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["accounts", "inject", "demo_07@emufleet.invalid", "--serial", inst.serial])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out.xml"
    result = runner.invoke(app, ["accounts", "extract", "--serial", inst.serial, str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == src.read_bytes()
