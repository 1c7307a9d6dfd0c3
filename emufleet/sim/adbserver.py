"""A real adb server isolated from the user's, and free simulator ports: the harness of tests and benchmarks.

Several suites and benchmarks run at once on one machine, next to whatever adb server the user has on 5037, so
each run starts its own server (reference §5.12): the binary ``adbutils._utils.adb_path()`` resolves (normally the
one bundled in the adbutils wheel) on a free ``ANDROID_ADB_SERVER_PORT`` with a temporary ``HOME`` (its keys and
``~/.android`` state). Simulators listen on ``base + 32·i`` (:data:`emufleet.sim.PORT_STRIDE`), so a base port is
only handed out when all those ports are free::

    with isolated_adb_server() as client, Simulator(base_port=find_free_base_port(1)) as sim:
        client.connect(sim.instances[0].serial)
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from emufleet.sim.server import PORT_STRIDE

if TYPE_CHECKING:
    import adbutils

__all__ = ["PORTS_PER_BASE", "adb_server_env", "adb_server_port", "adb_server_running", "find_free_base_port",
           "free_port", "isolated_adb_server", "kill_adb_server"]

PORTS_PER_BASE = 8  # instances a default base port leaves room for
_LOW = 20000  # below: well-known and registered services; above the ephemeral floor: outgoing connections
_handed_out: set[int] = set()  # ports already given to a simulator by this process (see find_free_base_port)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the kernel's pick, from the ephemeral range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel hands out to outgoing connections (Linux), else 32768."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def find_free_base_port(count: int = PORTS_PER_BASE) -> int:
    """A base port ``b`` with ``b + 32·i`` free for ``i < count``, below the ephemeral range.

    Never the same port twice in one process: the adb server keeps retrying ports it was connected to, so a
    reused port could reach a later simulator unasked. Raises ``RuntimeError`` when 500 random tries all fail.
    """
    rng = random.Random()
    top = max(_ephemeral_floor(), _LOW + 2 * PORT_STRIDE * count) - PORT_STRIDE * count
    for _ in range(500):
        base = rng.randrange(_LOW, top)
        ports = [base + PORT_STRIDE * i for i in range(count)]
        if any(p in _handed_out for p in ports) or not all(_port_free(p) for p in ports):
            continue
        _handed_out.update(ports)
        return base
    raise RuntimeError("no free base port found")


def adb_server_port() -> int:
    """The port adb clients use: ``ANDROID_ADB_SERVER_PORT``, else 5037."""
    try:
        return int(os.environ.get("ANDROID_ADB_SERVER_PORT") or 5037)
    except ValueError:
        return 5037


def adb_server_running(port: int | None = None) -> bool:
    """Whether an adb server listens on ``127.0.0.1:port`` (default :func:`adb_server_port`); never starts one."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port or adb_server_port())) == 0


def adb_server_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment to start an adb server with: ``base`` (default ``os.environ``) with ``ADB_LIBUSB=0`` unless it
    says otherwise. adb's libusb backend (its default on Linux) answers ``start-server`` only after waiting 3 s for a
    USB device scan that never completes on a machine without ``/dev/bus/usb`` (a container, CI); the native
    backend (``0``, adb's documented choice) still finds USB devices and answers at once. Emulators are TCP."""
    env = dict(os.environ if base is None else base)
    env.setdefault("ADB_LIBUSB", "0")
    return env


def kill_adb_server(port: int | None = None) -> None:
    """``adb -P port kill-server`` (default :func:`adb_server_port`): for a server this process started itself."""
    from adbutils._utils import adb_path

    subprocess.run([adb_path(), "-P", str(port or adb_server_port()), "kill-server"], timeout=30,
                   capture_output=True, check=False)


@contextmanager
def isolated_adb_server() -> Iterator[adbutils.AdbClient]:
    """Run a real adb server on a free port with a temporary ``HOME`` for the block; yield a client bound to it.

    For the block, ``os.environ`` points ``ANDROID_ADB_SERVER_PORT``/``_HOST``, ``HOME`` and
    ``ADBUTILS_ADB_PATH`` at it (so the ``adb`` CLI run through ``subprocess``, and any ``adbutils.AdbClient()``
    created inside, reach that server; adbutils' auto-start launches the same binary) and unsets the variables
    that would leak the user's setup (``ANDROID_USER_HOME``, ``ANDROID_SDK_HOME``, ``ANDROID_SERIAL``,
    ``ADB_VENDOR_KEYS``). On exit: ``adb kill-server``, the environment restored, the ``HOME`` removed.

    Raises:
        subprocess.CalledProcessError, subprocess.TimeoutExpired: ``adb start-server`` failed or took > 30 s.
    """
    import adbutils
    from adbutils._utils import adb_path

    adb, port, home = adb_path(), free_port(), tempfile.mkdtemp(prefix="emufleet-adb-home-")
    overrides = {"ANDROID_ADB_SERVER_PORT": str(port), "ANDROID_ADB_SERVER_HOST": "127.0.0.1", "HOME": home,
                 "ADBUTILS_ADB_PATH": adb}
    removed = ("ANDROID_USER_HOME", "ANDROID_SDK_HOME", "ANDROID_SERIAL", "ADB_VENDOR_KEYS")
    saved = {k: os.environ.get(k) for k in (*overrides, *removed)}
    os.environ.update(overrides)
    for key in removed:
        os.environ.pop(key, None)
    try:
        subprocess.run([adb, "start-server"], check=True, timeout=30, capture_output=True, env=adb_server_env())
        client = adbutils.AdbClient(host="127.0.0.1", port=port)
        client.server_version()
        yield client
    finally:
        kill_adb_server(port)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)
