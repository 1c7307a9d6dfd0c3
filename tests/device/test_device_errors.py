"""The one translation boundary: adbutils and socket errors become emufleet ``DeviceError``s, chained."""

from __future__ import annotations

import pytest
from adbutils.errors import AdbConnectionError, AdbError, AdbTimeout

from emufleet.device._adberrors import translate_errors
from emufleet.errors import (
    DeviceConnectError,
    DeviceError,
    DeviceOfflineError,
    DeviceTimeoutError,
)


@pytest.mark.parametrize(("raised", "expected"), [
    (AdbTimeout("adb read timeout"), DeviceTimeoutError),
    (TimeoutError("timed out"), DeviceTimeoutError),
    (AdbConnectionError("connect to adb server failed"), DeviceConnectError),
    (AdbError("device offline"), DeviceOfflineError),
    (AdbError("device '127.0.0.1:5' not found"), DeviceOfflineError),
    (AdbError("no device with transport id '9'"), DeviceOfflineError),
    (EOFError("Expected 5 bytes, got 0"), DeviceOfflineError),
    (AdbError("Unknown data: b''"), DeviceOfflineError),  # check_okay() read EOF: the stream was closed
    (ConnectionResetError(104, "Connection reset by peer"), DeviceOfflineError),
    (AdbError("Unknown data: b'XXXX'"), DeviceError),
])
def test_translation(raised: Exception, expected: type[DeviceError]) -> None:
    with pytest.raises(expected) as err, translate_errors("127.0.0.1:5", "shell 'x'"):
        raise raised
    assert type(err.value) is expected
    assert err.value.__cause__ is raised
    assert err.value.serial == "127.0.0.1:5"
    assert "shell 'x'" in str(err.value)


def test_our_errors_and_foreign_bugs_pass_through() -> None:
    mine = DeviceError("already ours")
    with pytest.raises(DeviceError) as err, translate_errors("s", "x"):
        raise mine
    assert err.value is mine
    with pytest.raises(KeyError), translate_errors("s", "x"):
        raise KeyError("a bug is not a device error")
