"""Device shell command lines, quoted so that what we pass arrives as data, never as shell syntax.

Every command runs through the device's ``sh`` (adbutils sends ``shell,v2:<line>``), so each argument is
POSIX-quoted here. ``input text`` additionally treats ``%s`` as a space and cannot type a literal space, so
spaces become ``%s`` before quoting (the one escape Android's ``input`` knows).
"""

from __future__ import annotations

import re
import shlex

from emufleet.errors import InputError

__all__ = [
    "app_start_command",
    "app_stop_command",
    "check_activity",
    "check_input_text",
    "check_key",
    "check_package",
    "getprop_command",
    "input_text_command",
    "key_event_command",
    "parse_foreground_app",
    "parse_window_size",
    "su_command",
]

_KEY_RE = re.compile(r"KEYCODE_[A-Z0-9_]+|[A-Z0-9_]+|\d+", re.ASCII)
_PACKAGE_RE = re.compile(r"[A-Za-z][\w]*(\.[A-Za-z_][\w]*)+", re.ASCII)  # unquoted in commands
_ACTIVITY_RE = re.compile(r"[\w.$]+", re.ASCII)
_PROP_RE = re.compile(r"[\w.\-:@]+", re.ASCII)
_SIZE_RE = re.compile(r"(Physical|Override) size:\s*(\d+)x(\d+)")
_FOCUS_RE = re.compile(r"mCurrentFocus=Window\{[^}]*?\s([\w.]+)/[^\s}]+\}")
_FOCUS_APP_RE = re.compile(r"mFocusedApp=.*?\s([\w.]+)/[^\s}]+")


def input_text_command(text: str) -> str:
    """``input text <quoted>`` typing ``text`` literally (``; rm -rf /`` is typed, not run).

    Raises:
        InputError: ``text`` is empty, not printable ASCII (``input text`` cannot type it), or contains ``%s``
            (which ``input`` would turn into a space; it has no escape for it).
    """
    check_input_text(text)
    return "input text " + shlex.quote(text.replace(" ", "%s"))


def check_input_text(text: str) -> None:
    """Raise ``InputError`` unless ``input text`` can type ``text`` (see :func:`input_text_command`); routine
    validation calls it too, so a routine that the device would refuse fails ``routines validate``."""
    if not text:
        raise InputError("nothing to type", field="text")
    if not text.isascii() or not text.isprintable():
        raise InputError(f"input text can only type printable ASCII, got {text!r}", field="text")
    if "%s" in text:
        raise InputError(f"input text cannot type a literal '%s' (it means a space): {text!r}", field="text")


def key_event_command(key: str | int) -> str:
    """``input keyevent <key>`` for ``"KEYCODE_BACK"``, ``"BACK"`` or a numeric code.

    Raises:
        InputError: the key is not a key-code name or number.
    """
    check_key(key)
    return f"input keyevent {key}"


def check_key(key: str | int) -> None:
    """Raise ``InputError`` unless ``key`` is a key-code name (``KEYCODE_BACK``, ``BACK``) or number."""
    if not _KEY_RE.fullmatch(str(key)):
        raise InputError(f"not a key code: {key!r}", field="key")


def app_start_command(package: str, activity: str | None = None, flags: str | None = None) -> str:
    """``am start -W -n pkg/act [-f flags]`` or, without an activity, the launcher intent through ``monkey``.

    The one canonical launch command (digest §7.5 lists four variants in the seed).

    Raises:
        InputError: malformed package, activity or flags.
    """
    check_package(package)
    if activity is None:
        return f"monkey -p {package} -c android.intent.category.LAUNCHER 1"
    check_activity(activity)
    command = f"am start -W -n {package}/{shlex.quote(activity)}"
    if flags is not None:
        if not re.fullmatch(r"0x[0-9A-Fa-f]+|\d+", flags):
            raise InputError(f"intent flags must be an integer or 0x-hex: {flags!r}", field="flags")
        command += f" -f {flags}"
    return command


def app_stop_command(package: str) -> str:
    """``am force-stop <package>``.

    Raises:
        InputError: malformed package name.
    """
    check_package(package)
    return f"am force-stop {package}"


def getprop_command(name: str) -> str:
    """``getprop <name>``.

    Raises:
        InputError: not a property name.
    """
    if not _PROP_RE.fullmatch(name):
        raise InputError(f"not a property name: {name!r}", field="name")
    return f"getprop {name}"


def check_package(package: str) -> None:
    """Raise ``InputError`` unless ``package`` is an Android package name (``jp.pokemon.pokemontcgp``)."""
    if not _PACKAGE_RE.fullmatch(package):  # fullmatch: `$` alone lets a trailing newline through
        raise InputError(f"not an Android package name: {package!r}", field="package")


def check_activity(activity: str) -> None:
    """Raise ``InputError`` unless ``activity`` is an activity name (``.MainActivity``, ``com.x.Main$Inner``)."""
    if not _ACTIVITY_RE.fullmatch(activity):
        raise InputError(f"not an activity name: {activity!r}", field="activity")


def su_command(command: str) -> str:
    """``su -c '<command>'``: the whole command line quoted as one argument, run by root's shell."""
    return "su -c " + shlex.quote(command)


def parse_window_size(output: str) -> tuple[int, int]:
    """``wm size`` output → ``(width, height)``; an ``Override size`` wins over the physical one.

    Raises:
        ValueError: no size line in the output.
    """
    sizes = {kind: (int(w), int(h)) for kind, w, h in _SIZE_RE.findall(output)}
    size = sizes.get("Override") or sizes.get("Physical")
    if size is None:
        raise ValueError(f"no size in 'wm size' output: {output.strip()[:200]!r}")
    return size


def parse_foreground_app(output: str) -> str | None:
    """``dumpsys window`` output → the package of the focused window (``mCurrentFocus``), else ``mFocusedApp``."""
    match = _FOCUS_RE.search(output) or _FOCUS_APP_RE.search(output)
    return match.group(1) if match else None
