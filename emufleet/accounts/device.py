"""Inject an account into a device and extract it back over ADB (digest §7.2, §7.4; fixing §7.3 and §7.5).

The seed's orchestrated injection pushed the wrong file, in the wrong format, without ``su`` and never relaunched
the game; four launch commands coexisted. Here there is one recipe, with package, activity and paths from
:data:`emufleet.settings.GAME`:

1. force-stop the game;
2. push the SharedPreferences file to the staging path (``/sdcard/deviceAccount.xml``);
3. ``su -c cp`` it into the game's prefs path (``…/shared_prefs/deviceAccount:.xml``);
4. remove the staging file;
5. verify by reading the prefs file back (before the game can touch it);
6. start the game with the device's one canonical launch (``Device.app_start(package, activity)``).
"""

from __future__ import annotations

import shlex

from emufleet.accounts.xmlfile import AccountCredentials, parse_account_xml, render_account_xml
from emufleet.device.interface import DeviceLike
from emufleet.errors import DeviceError, ShellError
from emufleet.settings import GAME, GameSettings

__all__ = ["extract", "inject"]


def inject(device: DeviceLike, account: AccountCredentials, *, game: GameSettings = GAME,
           launch: bool = True) -> None:
    """Install ``account`` as the game's login on ``device`` and (by default) start the game.

    Raises:
        DeviceError: any step failed, or the file read back differs from what was written (``ShellError`` for a
            failing ``su``/``rm``); the staging file is removed on a best-effort basis either way.
    """
    data = render_account_xml(account)
    staging, prefs = shlex.quote(game.staging_path), shlex.quote(game.prefs_path)
    device.app_stop(game.package)
    device.push(data, game.staging_path)
    try:
        device.su(f"cp {staging} {prefs}", check=True)
    finally:
        device.shell(f"rm -f {staging}")
    installed = extract(device, game=game)
    if installed != account:
        raise DeviceError(f"account read back as {installed.device_account!r}, wrote {account.device_account!r}",
                          serial=device.serial)
    if launch:
        device.app_start(game.package, game.activity)


def extract(device: DeviceLike, *, game: GameSettings = GAME) -> AccountCredentials:
    """The account installed on ``device``: ``su -c cp`` the prefs file to staging, pull, remove, parse (§7.4).

    Raises:
        DeviceError: no account file on the device, or the copy/pull failed; ``AccountFileError`` if the file on
            the device is not a valid SharedPreferences account.
    """
    staging, prefs = shlex.quote(game.staging_path), shlex.quote(game.prefs_path)
    try:
        device.su(f"cp {prefs} {staging}", check=True)
    except ShellError as exc:
        raise DeviceError(f"no readable account file at {game.prefs_path}: {exc.output.strip() or exc}",
                          serial=device.serial) from exc
    try:
        data = device.pull(game.staging_path)
    finally:
        device.shell(f"rm -f {staging}")
    return parse_account_xml(data, f"{device.serial}:{game.prefs_path}")

