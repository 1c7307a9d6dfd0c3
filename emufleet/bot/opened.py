"""A bot's device once opened: connected, ready, supervised, fenced, and the routine context over it.

:func:`open_device` runs on a bot thread (blocking: ``adb connect``, ``wait_ready``) and returns the
:class:`OpenedDevice` the attempt runner, the recovery ladder and the supervision loop share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emufleet.bot.device import SupervisedDevice
from emufleet.bot.fence import Fence
from emufleet.bot.supervisor import Supervisor
from emufleet.routines import BotContext, Controller, StepEvent

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.assets import EngineAssets
    from emufleet.bot.spec import BotSpec
    from emufleet.device.interface import RecoverableDevice

__all__ = ["OpenedDevice", "adb_connect", "open_device"]


@dataclass(frozen=True, slots=True)
class OpenedDevice:
    """``raw``: the device as connected (rung ``reconnect`` acts on it); ``device``: the same behind the fence,
    reporting to ``supervisor``; ``ctx``: the routine context over ``device``."""

    raw: RecoverableDevice
    device: SupervisedDevice
    supervisor: Supervisor
    ctx: BotContext


def adb_connect(spec: BotSpec) -> RecoverableDevice:
    """The default connection: ADB to ``spec.serial`` within ``spec.connect_timeout_s``."""
    from emufleet.device import connect

    return connect(spec.serial, timeout_s=spec.connect_timeout_s)


def open_device(spec: BotSpec, assets: EngineAssets, connect: Callable[[], RecoverableDevice], *, fence: Fence,
                controller: Controller, accounts: BotAccounts | None,
                on_step: Callable[[StepEvent], None] | None) -> OpenedDevice:
    """Connect and ready the device, and assemble the supervised context (blocking).

    Raises:
        DeviceError: the device could not be connected or was not ready within ``spec.connect_timeout_s``.
    """
    raw = connect()
    raw.wait_ready(timeout_s=spec.connect_timeout_s)
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
                     on_match=supervisor.on_match)
    return OpenedDevice(raw, device, supervisor, ctx)
