"""The device layer: an adbutils-backed :class:`Device` and the emulator backends.

``from emufleet.device import Device, connect`` — see ``docs/architecture.md`` "Device". All adbutils calls go
through ``emufleet/device/_adb.py`` and its two helpers ``_transport`` (the fast path) and ``_adberrors`` (errors
translated into :mod:`emufleet.errors`); backends live in :mod:`emufleet.device.backends`.
"""

from emufleet.device._commands import check_activity, check_input_text, check_key, check_package
from emufleet.device.device import Device, DeviceListing, connect, list_devices
from emufleet.device.interface import DeviceLike, ShellResult

__all__ = ["Device", "DeviceLike", "DeviceListing", "ShellResult", "check_activity", "check_input_text", "check_key",
           "check_package", "connect", "list_devices"]
