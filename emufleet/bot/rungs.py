"""The rungs of the recovery ladder as blocking calls (run on a bot thread; :mod:`emufleet.bot.recovery`).

Each rung raises on failure (``DeviceError``, ``RoutineError``) and returns when it did its work; whether the
bot is then healthy is the session's health check's business.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from emufleet.errors import DeviceError, DeviceTimeoutError
from emufleet.settings import GAME, GameSettings

if TYPE_CHECKING:
    from emufleet.bot.accounts import BotAccounts
    from emufleet.bot.spec import BotSpec
    from emufleet.device.interface import DeviceLike, RecoverableDevice
    from emufleet.routines import BotContext

__all__ = ["reconnect", "restart_app", "restart_instance", "run_recovery_routine"]

log = logging.getLogger(__name__)


def run_recovery_routine(ctx: BotContext, key: str) -> None:
    """Rung ``routine``: play recovery routine ``key`` on the bot's context (same device, variables, accounts).

    Raises:
        RoutineError: the routine is not in the registry or failed; RoutineStopped when the bot is stopped or the
            rung's timeout fired (the session stops the controller).
    """
    from emufleet.routines import RoutineRun

    if ctx.registry is None:
        raise DeviceError("no routine registry to run the recovery routine from")
    RoutineRun(ctx.registry.get(key), ctx).run()


def restart_app(device: DeviceLike, accounts: BotAccounts | None, *, game: GameSettings = GAME,
                timeout_s: float = 30.0) -> str | None:
    """Rung ``restart_app``: force-stop the game, re-inject the current account (lease kept), start the game and
    wait until it is in the foreground. Returns the re-injected account's name (``None``: no account was current).

    Raises:
        DeviceError: a device call failed; DeviceTimeoutError: the game was not in the foreground within
            ``timeout_s`` seconds.
    """
    device.app_stop(game.package)
    ref = accounts.reinject(device) if accounts is not None else None  # injection starts the game
    if ref is None:
        device.app_start(game.package, game.activity)
    deadline = time.monotonic() + timeout_s
    seen = None
    while time.monotonic() < deadline:
        seen = device.foreground_app()
        if seen == game.package:
            return ref.device_account if ref is not None else None
        time.sleep(0.25)
    raise DeviceTimeoutError(f"{game.package} not in the foreground {timeout_s:g} s after its restart (saw {seen})",
                             serial=device.serial)


def restart_instance(device: RecoverableDevice, spec: BotSpec, *, timeout_s: float) -> None:
    """Rung ``restart_instance``: stop and start the instance through its emulator backend when the bot knows it
    (``spec.backend`` and ``spec.instance_index``) and the backend can power instances (not ``adb``, which only
    connects), else reboot it over ADB; then wait until it is ready.

    Raises:
        DeviceError: the backend could not restart it; DeviceTimeoutError: not ready within ``timeout_s`` seconds.
    """
    if spec.backend not in (None, "adb") and spec.instance_index is not None:
        from emufleet.device.backends import get_backend

        backend = get_backend(spec.backend, **spec.backend_options)
        backend.stop(spec.instance_index)
        backend.start(spec.instance_index, timeout_s)
    else:
        device.reboot(wait=True, timeout_s=timeout_s)
    device.wait_ready(timeout_s=timeout_s)


RECONNECT_WINDOW_S = 15.0  # a connection that stays refused this long needs a bigger rung


def reconnect(device: RecoverableDevice, *, timeout_s: float, window_s: float = RECONNECT_WINDOW_S) -> None:
    """Rung ``reconnect``: disconnect and connect ADB again — retried for ``window_s`` seconds, an emulator's
    ADB port often comes back by itself — then wait until the device is ready.

    Raises:
        DeviceError: the device could not be reached within ``window_s``; DeviceTimeoutError: not ready within
            ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + window_s
    while True:
        try:
            device.reconnect(timeout_s=min(timeout_s, 10.0))
            break
        except DeviceError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)
    device.wait_ready(timeout_s=timeout_s)
