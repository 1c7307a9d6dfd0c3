"""The instance settings check against the simulator through the real adb server: a wrong resolution is fixed,
or refused with the reason; density and the game's version are read from the device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet.bot.assets import load_assets
from emufleet.bot.opened import check_settings
from emufleet.bot.spec import BotSpec
from emufleet.device import connect
from emufleet.device.probe import probe_instance
from emufleet.device.settings import check_instance_settings, read_instance_settings, version_at_least
from emufleet.errors import InstanceRefusedError
from emufleet.groups.definition import InstanceCheck


def _device(simulator: Callable[..., Any], adb_server: Any) -> Any:
    serial = simulator(instances=1).instances[0].serial
    return connect(serial)


def test_a_720x1280_simulator_is_fixed_or_refused(simulator: Callable[..., Any], adb_server: Any) -> None:
    device = _device(simulator, adb_server)
    device.shell("wm size 720x1280", check=True)
    assert device.screenshot().shape == (1280, 720, 3)  # frames follow the override, as on an emulator
    refused = check_instance_settings(device, width=540, height=960, fix=False)
    assert not refused.ok
    assert refused.describe() == "resolution is 720x1280, the template set needs 540x960"
    fixed = check_instance_settings(device, width=540, height=960, density=240, package="jp.pokemon.pokemontcgp",
                                    min_version="1.0")
    assert fixed.ok, fixed.describe()
    assert fixed.fixed == ("resolution 720x1280 → 540x960 (wm size)",)
    assert device.screenshot().shape == (960, 540, 3)
    assert read_instance_settings(device, "jp.pokemon.pokemontcgp").package_version == "1.0.0"


def test_density_old_game_and_missing_game(simulator: Callable[..., Any], adb_server: Any) -> None:
    device = _device(simulator, adb_server)
    density = check_instance_settings(device, width=540, height=960, density=320)
    assert density.ok and density.fixed == ("density 240 → 320 (wm density)",)
    old = check_instance_settings(device, width=540, height=960, package="jp.pokemon.pokemontcgp",
                                  min_version="1.2")
    assert old.problems == ("the game jp.pokemon.pokemontcgp is version 1.0.0, the group needs 1.2+",)
    missing = check_instance_settings(device, width=540, height=960, package="com.example.absent")
    assert missing.problems == ("the game com.example.absent is not installed (the group needs it)",)


def test_versions_compare_by_number() -> None:
    assert version_at_least("1.10.0", "1.9")
    assert not version_at_least("1.9.9", "1.10")
    assert version_at_least("2.0", "2.0")


def test_probe_sees_a_healthy_simulator_and_a_black_one(simulator: Callable[..., Any], adb_server: Any) -> None:
    instance = simulator(instances=1).instances[0]
    assert probe_instance(instance.serial) is None
    instance.inject_fault("black_screen")
    assert probe_instance(instance.serial) == "the screen is black"
    assert probe_instance("127.0.0.1:9", timeout_s=1.0) is not None  # nothing listens there


def test_the_routine_declares_the_game_it_needs(simulator: Callable[..., Any], adb_server: Any,
                                                tmp_path: Path) -> None:
    """A routine's ``requires:`` is checked before its bot drives the instance; the group's instance_check, when
    it names the game, is what counts."""
    serial = simulator(instances=1).instances[0].serial
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "needs.yaml").write_text(
        "version: 1\nrequires: {package: jp.pokemon.pokemontcgp, min_version: '9.9'}\nsteps: []\n", encoding="utf-8")
    assets = load_assets(routines_root=tmp_path)
    device: Any = connect(serial)
    spec = BotSpec(group="g", bot=0, instance=serial, routine="test/needs")
    with pytest.raises(InstanceRefusedError, match=r"version 1\.0\.0, routine test/needs needs 9\.9\+"):
        check_settings(spec, assets, device)
    group_says = spec.model_copy(update={"instance_check": InstanceCheck(package="jp.pokemon.pokemontcgp",
                                                                         min_version="1.0")})
    check = check_settings(group_says, assets, device)
    assert check is not None and check.ok
