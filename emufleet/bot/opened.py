"""A bot's device once opened: connected, ready, supervised, fenced, and the routine context over it.

:func:`open_device` runs on a bot thread (blocking: ``adb connect``, ``wait_ready``) and returns the
:class:`OpenedDevice` the attempt runner, the recovery ladder and the supervision loop share.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emufleet.bot.device import SupervisedDevice
from emufleet.bot.fence import Fence
from emufleet.bot.supervisor import Supervisor
from emufleet.device.settings import SettingsCheck, check_instance_settings
from emufleet.errors import InstanceRefusedError
from emufleet.routines import BotContext, Controller, StepEvent

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.spec import BotSpec
    from emufleet.device.interface import RecoverableDevice
    from emufleet.resources import CapturePacer

__all__ = ["OpenedDevice", "adb_connect", "check_settings", "open_device"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class OpenedDevice:
    """``raw``: the device as connected (rung ``reconnect`` acts on it); ``device``: the same behind the fence,
    reporting to ``supervisor``; ``ctx``: the routine context over ``device``."""

    raw: RecoverableDevice
    device: SupervisedDevice
    supervisor: Supervisor
    ctx: BotContext
    settings: SettingsCheck | None = None  # the instance settings check, when the group asks for one


def adb_connect(spec: BotSpec) -> RecoverableDevice:
    """The default connection: ADB to the serial of ``spec.instance`` within ``spec.connect_timeout_s``."""
    from emufleet.device import connect

    return connect(spec.instance.serial, timeout_s=spec.connect_timeout_s)


def open_device(spec: BotSpec, assets: EngineAssets, connect: Callable[[], RecoverableDevice], *, fence: Fence,
                controller: Controller, accounts: BotAccounts | None,
                on_step: Callable[[StepEvent], None] | None, pacer: CapturePacer | None = None) -> OpenedDevice:
    """Connect and ready the device, and assemble the supervised context (blocking).

    Raises:
        DeviceError: the device could not be connected or was not ready within ``spec.connect_timeout_s``.
    """
    raw = connect()
    raw.wait_ready(timeout_s=spec.connect_timeout_s)
    settings = check_settings(spec, assets, raw)
    supervisor = Supervisor(spec, raw, fence, controller, accounts)
    device = SupervisedDevice(raw, fence, on_input=supervisor.on_input, on_frame=supervisor.on_frame,
                              on_capture_error=supervisor.on_capture_error)
    if accounts is not None:
        accounts.start_heartbeat()

    def step_event(event: StepEvent) -> None:
        supervisor.on_step_event(event)
        if on_step is not None:
            on_step(event)

    ctx = BotContext(device, assets.templates, assets.registry, controller, accounts=accounts, on_event=step_event,
                     bot_id=f"{spec.group}/{spec.bot}", group_config=spec.routine_config,
                     on_match=supervisor.on_match, pacer=pacer)
    return OpenedDevice(raw, device, supervisor, ctx, settings)


def check_settings(spec: BotSpec, assets: EngineAssets, device: RecoverableDevice) -> SettingsCheck | None:
    """Check (and, where allowed, fix) the instance's settings against the template set's capture size, the
    group's ``launch.instance_check`` and the game the routine ``requires:`` (``None`` when disabled).

    Raises:
        InstanceRefusedError: a setting is wrong and could not or may not be fixed; the message says which.
        DeviceError: the device did not answer.
    """
    want = spec.instance_check
    if not want.enabled:
        return None
    space = assets.templates.space
    # the game: the group's instance_check names it, else the routine's ``requires:`` (docs/farm.md)
    needs = assets.registry.get(spec.routine).model.requires if spec.routine in assets.registry else None
    package, min_version, by = ((want.package, want.min_version, "the group") if want.package or needs is None
                                else (needs.package, needs.min_version, f"routine {spec.routine}"))
    check = check_instance_settings(device, width=space.device_width, height=space.device_height,
                                    density=want.density, package=package, min_version=min_version,
                                    fix=want.fix, required_by=by)
    if not check.ok:
        raise InstanceRefusedError(f"instance {spec.instance} refused: {check.describe()}", serial=spec.instance.serial)
    if check.fixed:
        log.warning("bot %s: instance %s %s", spec.bot, spec.instance, check.describe())
    return check
