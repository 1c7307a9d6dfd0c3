"""adbutils and socket errors as :mod:`emufleet.errors`: :func:`translate_errors` wraps every adbutils call of the
device layer, so nothing above it sees an ``AdbError``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from adbutils.errors import AdbConnectionError, AdbError, AdbTimeout

from emufleet.errors import DeviceConnectError, DeviceError, DeviceOfflineError, DeviceTimeoutError

__all__ = ["STALE_TRANSPORT", "translate_errors"]

# Substrings of adb server replies meaning "the device is not usable right now" (offline, gone, reconnecting).
# "unknown data: b''" is adbutils' check_okay() reading EOF: the server closed the stream as the transport died.
_OFFLINE_MARKERS = ("offline", "not found", "no device", "no devices", "closed", "connection reset", "unauthorized",
                    "unknown data: b''")
STALE_TRANSPORT = "no device with transport id"


@contextmanager
def translate_errors(serial: str | None, action: str) -> Iterator[None]:
    """Run the block, translating adbutils/socket errors into ``DeviceError`` subclasses.

    Raises:
        DeviceTimeoutError: adbutils ``AdbTimeout`` or a socket timeout.
        DeviceConnectError: the adb server itself cannot be reached.
        DeviceOfflineError: the server says offline / not found, the stream ended early (EOF, reset), or a sync
            reply adbutils only asserts on was missing.
        DeviceError: any other ``AdbError``.
    """
    try:
        yield
    except DeviceError:
        raise
    except AdbTimeout as exc:
        raise DeviceTimeoutError(f"{action}: timed out ({exc})", serial=serial) from exc
    except AdbConnectionError as exc:
        raise DeviceConnectError(f"{action}: adb server unreachable ({exc})", serial=serial) from exc
    except AdbError as exc:
        text = " ".join(str(a) for a in exc.args if isinstance(a, str)) or repr(exc)
        if any(marker in text.lower() for marker in _OFFLINE_MARKERS):
            raise DeviceOfflineError(f"{action}: {text}", serial=serial) from exc
        raise DeviceError(f"{action}: {text}", serial=serial) from exc
    except AssertionError as exc:  # adbutils asserts on sync replies (``assert "STAT" == …``) instead of raising
        raise DeviceOfflineError(f"{action}: the device closed the stream or answered out of protocol",
                                 serial=serial) from exc
    except TimeoutError as exc:  # socket.timeout raised outside adbutils' own wrappers
        raise DeviceTimeoutError(f"{action}: timed out", serial=serial) from exc
    except (EOFError, OSError) as exc:  # the server closed our stream: the device dropped mid-call
        raise DeviceOfflineError(f"{action}: connection dropped ({exc or type(exc).__name__})",
                                 serial=serial) from exc
