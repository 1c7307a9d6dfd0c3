"""Paths written in data files (YAML), in the forms their authors write on Windows as well as POSIX.

Users on Windows hosts write ``accounts\\fresh``, ``..\\accounts``, ``C:\\Users\\me\\accounts`` or
``C:/fleet/templates``; the same files are also read on Linux (CI, a Linux control host). The rules:

* ``\\`` and ``/`` are both separators, everywhere (POSIX file names with a backslash are not supported in data
  files);
* a relative path is relative to the folder the caller names (the data file's folder, say);
* a drive path (``C:\\…``, ``C:/…``) or a UNC path (``\\\\server\\share\\…``) is absolute on Windows, and on
  other platforms an :class:`~emufleet.errors.InputError` that says so (it can name nothing there);
* a leading ``~`` is the user's home folder.

Validators of data models call :func:`check_path_text` so that a bad path is reported located
(``file:line:col: field: message``) at load time, not when the path is first used.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Annotated

from pydantic import AfterValidator

from emufleet.errors import InputError

__all__ = ["DataPathText", "check_path_text", "data_path", "parse_data_path"]


def parse_data_path(text: str, base: PurePath, *, windows: bool) -> PurePath:
    """``text`` as written in a data file, joined onto ``base`` unless it is absolute, in one platform's form.

    Args:
        text: the path as written (either separator; a drive or UNC prefix; no ``~`` expansion here).
        base: the folder relative paths start from.
        windows: read it as Windows does (:class:`~pathlib.PureWindowsPath`) rather than POSIX.

    Raises:
        InputError: empty, or a drive/UNC path where ``windows`` is false.
    """
    if not text.strip():
        raise InputError("empty path")
    if windows:
        return PureWindowsPath(base) / PureWindowsPath(text)
    drive = PureWindowsPath(text).drive
    if drive:
        raise InputError(f"{text!r} is a Windows path (on {drive}); this host is not Windows: write a path relative "
                         "to this file, or a POSIX one")
    return PurePosixPath(base) / PurePosixPath(text.replace("\\", "/"))


def check_path_text(text: str) -> str:
    """``text`` unchanged when this platform can use it as a data-file path (a model validator's check).

    Raises:
        InputError: see :func:`parse_data_path`.
    """
    parse_data_path(text, PurePath("."), windows=sys.platform == "win32")
    return text


def data_path(text: str, base: str | os.PathLike[str]) -> Path:
    """The concrete path ``text`` (as written in a data file) names on this platform, relative to ``base``.

    Raises:
        InputError: see :func:`parse_data_path`.
    """
    if text.startswith("~"):
        text = os.path.expanduser(text.replace("\\", "/") if sys.platform != "win32" else text)
    return Path(parse_data_path(text, PurePath(base), windows=sys.platform == "win32"))


#: A path field of a data model: kept as written, checked by :func:`check_path_text` at validation.
DataPathText = Annotated[str, AfterValidator(check_path_text)]
