"""An instance's settings checked before a bot depends on them: resolution, density, the game and its version.

A template set is cut for one capture size (its coordinate space's ``device_width × device_height``); a device at
another resolution (MuMu's settings, a ``wm size`` left by a tool) makes every match miss, and the bot fails later
with nothing pointing at the cause. :func:`check_instance_settings` compares what the device reports with what the
group's template set and its ``launch.instance_check`` declare, fixes what is safe to fix on an emulator
(``wm size WxH``, ``wm density N``: overrides that ``wm size reset`` undoes) and reports the rest, so the caller can
refuse the instance with the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emufleet.device.interface import DeviceLike
from emufleet.errors import DeviceError

__all__ = ["InstanceSettings", "SettingsCheck", "check_instance_settings", "read_instance_settings",
           "version_at_least"]

_SIZE_RE = re.compile(r"^(Physical|Override) size:\s*(\d+)x(\d+)\s*$", re.MULTILINE)
_DENSITY_RE = re.compile(r"^(Physical|Override) density:\s*(\d+)\s*$", re.MULTILINE)
_VERSION_RE = re.compile(r"versionName=(\S+)")


@dataclass(frozen=True, slots=True)
class InstanceSettings:
    """What a device reports: ``width × height`` and ``density`` in effect (override first), and the game's
    ``versionName`` (``None``: not installed, or no package asked)."""

    width: int
    height: int
    density: int | None
    package_version: str | None


@dataclass(frozen=True, slots=True)
class SettingsCheck:
    """The outcome: ``problems`` left (empty: the instance may be used), ``fixed`` (what was changed), and the
    settings read last."""

    settings: InstanceSettings
    fixed: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        """One line: ``"ok"``, ``"fixed: …"``, or the problems."""
        if self.problems:
            return "; ".join(self.problems)
        return "fixed: " + "; ".join(self.fixed) if self.fixed else "ok"


def _effective(pattern: re.Pattern[str], output: str) -> tuple[int, ...] | None:
    found = {m[0]: tuple(int(g) for g in m[1:]) for m in pattern.findall(output)}
    return found.get("Override") or found.get("Physical")


def read_instance_settings(device: DeviceLike, package: str | None = None) -> InstanceSettings:
    """Read the device's settings (three or four shell calls).

    Raises:
        DeviceError: the device does not answer, or ``wm size`` prints no size.
    """
    size = _effective(_SIZE_RE, device.shell("wm size", check=True).output)
    if size is None:
        raise DeviceError("'wm size' printed no size")
    density = _effective(_DENSITY_RE, device.shell("wm density").output)
    version = None
    if package:
        match = _VERSION_RE.search(device.shell(f"dumpsys package {package}").output)
        version = match[1] if match else None
    return InstanceSettings(size[0], size[1], density[0] if density else None, version)


def _parts(version: str) -> list[tuple[int, str]]:
    return [(int(p), "") if p.isdigit() else (-1, p) for p in re.split(r"[.\-_]", version)]


def version_at_least(version: str, minimum: str) -> bool:
    """Whether ``version`` ≥ ``minimum``, comparing dot-separated parts as numbers (``1.10.0`` > ``1.9``)."""
    return _parts(version) >= _parts(minimum)


def check_instance_settings(device: DeviceLike, *, width: int, height: int, density: int | None = None,
                            package: str | None = None, min_version: str | None = None,
                            fix: bool = True, required_by: str = "the group") -> SettingsCheck:
    """Compare ``device`` with the expected ``width × height`` (device px), ``density`` (dpi; ``None``: any), the
    game ``package`` installed at ``min_version`` or newer (which ``required_by`` asks, for the message); with
    ``fix``, set a wrong size or density with ``wm`` and read again. A missing or too old game is never fixed here
    (installing is the user's decision).

    Raises:
        DeviceError: the device does not answer.
    """
    settings = read_instance_settings(device, package)
    fixed: list[str] = []
    if fix and (settings.width, settings.height) != (width, height):
        device.shell(f"wm size {width}x{height}", check=True)
        fixed.append(f"resolution {settings.width}x{settings.height} → {width}x{height} (wm size)")
    if fix and density is not None and settings.density != density:
        device.shell(f"wm density {density}", check=True)
        fixed.append(f"density {settings.density} → {density} (wm density)")
    if fixed:
        settings = read_instance_settings(device, package)
    problems = []
    if (settings.width, settings.height) != (width, height):
        problems.append(f"resolution is {settings.width}x{settings.height}, the template set needs {width}x{height}")
    if density is not None and settings.density != density:
        problems.append(f"density is {settings.density}, the group needs {density}")
    if package and settings.package_version is None:
        problems.append(f"the game {package} is not installed ({required_by} needs it)")
    elif package and min_version and settings.package_version and not version_at_least(settings.package_version,
                                                                                        min_version):
        problems.append(f"the game {package} is version {settings.package_version}, {required_by} needs "
                        f"{min_version}+")
    return SettingsCheck(settings, tuple(fixed), tuple(problems))
