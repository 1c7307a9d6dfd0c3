"""MuMu Player 12 through ``MuMuManager.exe`` (Windows): discovery, launch and shutdown.

* Discovery: ``MuMuManager.exe info -v all`` → JSON, one object per instance (a bare object when only one
  instance exists, else a map ``{"0": {...}, "1": {...}}``). ``adb_host_ip``/``adb_port``, ``pid`` and
  ``player_state`` are present only while an instance runs; the real port is taken from there because it can shift
  (reference §8), falling back to ``16384 + 32·index`` when the instance is off.
* Creation: ``create -n <count>`` (new empty instances) and ``clone -v <i> -n <count>`` (copies of a prepared one,
  the game installed and logged out); MuMuManager does not print the new indexes, so they are read as the
  difference of ``info -v all`` before and after.
* Lifecycle: ``control -v <i> launch`` and ``control -v <i> shutdown``. MuMuManager queues launches in its backend
  service (ALAS uses it instead of ``MuMuPlayer.exe`` for that reason; the seed launched ``MuMuPlayer.exe -v`` and
  never stopped anything, digest §8).

The subprocess runner is injectable (tests replay recorded outputs: this machine has no MuMu).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from emufleet.boundary import JsonObject, YamlValue
from emufleet.device.backends._base import (
    MUMU_BASE_PORT,
    InstanceInfo,
    LaunchGuard,
    guarded,
    mumu_serial,
    ready_device,
)
from emufleet.device.device import Device
from emufleet.errors import DeviceError, DeviceTimeoutError

__all__ = ["MumuBackend", "RunResult", "Runner", "find_manager", "parse_info"]

_INSTALL_ROOTS = (
    r"C:\Program Files\Netease\MuMuPlayerGlobal-12.0",
    r"C:\Program Files\Netease\MuMuPlayer-12.0",
    r"C:\Program Files\Netease\MuMu Player 12",
    r"C:\Program Files\MuMuPlayerGlobal-12.0",
)
# v5+ keeps the manager in nx_main, v4 and earlier in shell (MAA MumuExtras.cpp).
_MANAGER_SUBDIRS = ("nx_main", "shell")


@dataclass(frozen=True, slots=True)
class RunResult:
    """What a runner returns: exit status and decoded output."""

    returncode: int
    stdout: str
    stderr: str = ""


Runner = Callable[[Sequence[str], float], RunResult]
"""``runner(argv, timeout_s)``; raises ``TimeoutError`` when the command overruns."""


def subprocess_runner(argv: Sequence[str], timeout_s: float) -> RunResult:
    """Run ``argv`` with no console window; output decoded as UTF-8 (MuMuManager prints UTF-8 JSON)."""
    flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    try:
        done = subprocess.run(list(argv), capture_output=True, timeout=timeout_s, creationflags=flags, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"{argv[0]} {' '.join(argv[1:])}: no answer in {timeout_s} s") from exc
    return RunResult(done.returncode, done.stdout.decode("utf-8", errors="replace"),
                     done.stderr.decode("utf-8", errors="replace"))


def find_manager(root: str | os.PathLike[str] | None = None) -> Path:
    """Locate ``MuMuManager.exe``: ``EMUFLEET_MUMU_MANAGER``, else ``<root>/{nx_main,shell}/MuMuManager.exe`` for
    ``root`` (argument or ``EMUFLEET_MUMU_ROOT``) or the usual install folders.

    Raises:
        DeviceError: not found (the message lists where it looked).
    """
    explicit = os.environ.get("EMUFLEET_MUMU_MANAGER")
    if explicit:
        return Path(explicit)
    roots = [Path(root)] if root else [Path(p) for p in filter(None, [os.environ.get("EMUFLEET_MUMU_ROOT")])]
    roots += [Path(p) for p in _INSTALL_ROOTS] if not root else []
    candidates = [r / sub / "MuMuManager.exe" for r in roots for sub in _MANAGER_SUBDIRS]
    for path in candidates:
        if path.is_file():
            return path
    raise DeviceError("MuMuManager.exe not found; set EMUFLEET_MUMU_MANAGER or EMUFLEET_MUMU_ROOT (looked in "
                      + ", ".join(str(c) for c in candidates) + ")")


def _load_json(text: str, what: str) -> YamlValue:
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise DeviceError(f"MuMuManager {what}: no JSON in output {text.strip()[:200]!r}")
    try:
        return json.loads(text[start:])
    except json.JSONDecodeError as exc:
        raise DeviceError(f"MuMuManager {what}: bad JSON ({exc.msg} at char {exc.pos}): "
                          f"{text.strip()[:200]!r}") from exc


def _instance(raw: JsonObject, base_port: int) -> InstanceInfo:
    try:
        index = int(raw["index"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DeviceError(f"MuMuManager info: instance without a valid 'index': {raw!r}"[:300]) from exc
    running = bool(raw.get("is_process_started", False))
    port = raw.get("adb_port")
    if running and isinstance(port, int) and port > 0:
        serial = f"{raw.get('adb_host_ip') or '127.0.0.1'}:{port}"
    else:
        serial = mumu_serial(index, base_port)
    state = raw.get("player_state") or ("android_started" if raw.get("is_android_started") else
                                        "process_started" if running else "stopped")
    pid = raw.get("pid")
    return InstanceInfo(index=index, serial=serial, running=running, booted=bool(raw.get("is_android_started")),
                        name=raw.get("name"), state=state,
                        pid=pid if isinstance(pid, int) else None)


def parse_info(text: str, base_port: int = MUMU_BASE_PORT) -> list[InstanceInfo]:
    """Parse ``MuMuManager.exe info -v …`` output into instances ordered by index.

    Accepts the single-instance shape (one object with ``index``) and the multi-instance map keyed by index.

    Raises:
        DeviceError: not JSON, or an instance without a valid ``index``.
    """
    data = _load_json(text, "info")
    if isinstance(data, dict) and "index" in data:
        raws = [data]
    elif isinstance(data, dict):
        raws = [v for v in data.values() if isinstance(v, dict)]
    else:
        raise DeviceError(f"MuMuManager info: expected a JSON object, got {type(data).__name__}")
    return sorted((_instance(r, base_port) for r in raws), key=lambda i: i.index)


class MumuBackend:
    """MuMu Player 12 instances driven through ``MuMuManager.exe``.

    Args:
        manager_path: ``MuMuManager.exe`` (default: :func:`find_manager`, resolved on first use).
        runner: how commands run (default: :func:`subprocess_runner`); tests inject recorded outputs.
        launch_guard: held around each launch request, e.g. a Prefect concurrency limit from the flows layer.
        command_timeout_s: per MuMuManager call.
        poll_s: interval between ``info`` polls while an instance boots.
        device_factory: how serials become :class:`Device` objects (adb server, fast path options).
    """

    name = "mumu"

    def __init__(self, manager_path: str | os.PathLike[str] | None = None, *, runner: Runner | None = None,
                 launch_guard: LaunchGuard | None = None, command_timeout_s: float = 30.0, poll_s: float = 1.0,
                 base_port: int = MUMU_BASE_PORT, device_factory: Callable[[str], Device] = Device) -> None:
        self._manager = Path(manager_path) if manager_path else None
        self._runner = runner or subprocess_runner
        self._guard = launch_guard
        self._timeout_s = command_timeout_s
        self._poll_s = poll_s
        self._base_port = base_port
        self._device_factory = device_factory

    @property
    def manager_path(self) -> Path:
        """The ``MuMuManager.exe`` in use."""
        if self._manager is None:
            self._manager = find_manager()
        return self._manager

    def command(self, *args: str) -> list[str]:
        """The argv for ``MuMuManager.exe <args>``."""
        return [str(self.manager_path), *args]

    def _run(self, *args: str) -> str:
        argv = self.command(*args)
        try:
            result = self._runner(argv, self._timeout_s)
        except TimeoutError as exc:
            raise DeviceTimeoutError(f"MuMuManager {' '.join(args)}: {exc}") from exc
        except OSError as exc:
            raise DeviceError(f"MuMuManager {' '.join(args)}: cannot run {argv[0]} ({exc})") from exc
        if result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()[:300]
            raise DeviceError(f"MuMuManager {' '.join(args)} exited {result.returncode}: {detail}")
        return result.stdout

    def _control(self, index: int, action: str) -> None:
        out = self._run("control", "-v", str(index), action)
        if "{" in out:  # some builds answer {"errcode": N, "errmsg": "..."} with exit status 0
            reply = _load_json(out, f"control {action}")
            if isinstance(reply, dict) and reply.get("errcode", 0) not in (0, None):
                raise DeviceError(f"MuMuManager control -v {index} {action}: errcode {reply.get('errcode')} "
                                  f"{reply.get('errmsg', '')}".strip())

    def list_instances(self) -> list[InstanceInfo]:
        return parse_info(self._run("info", "-v", "all"), self._base_port)

    def info(self, index: int) -> InstanceInfo:
        """One instance (``info -v <index>``).

        Raises:
            DeviceError: MuMuManager does not report that index.
        """
        found = [i for i in parse_info(self._run("info", "-v", str(index)), self._base_port) if i.index == index]
        if not found:
            raise DeviceError(f"MuMu has no instance {index}")
        return found[0]

    def serial(self, index: int) -> str:
        return self.info(index).serial

    def is_running(self, index: int) -> bool:
        return self.info(index).running

    def start(self, index: int, timeout_s: float = 120.0) -> Device:
        deadline = time.monotonic() + timeout_s
        info = self.info(index)
        if not info.running:
            with guarded(self._guard, index):
                self._control(index, "launch")
        # The port is known (and final) only once Android is up: poll info until then.
        while not info.booted:
            if time.monotonic() >= deadline:
                raise DeviceTimeoutError(f"MuMu instance {index}: Android not started within {timeout_s} s")
            time.sleep(self._poll_s)
            info = self.info(index)
        return ready_device(info.serial, max(0.1, deadline - time.monotonic()),
                            device_factory=self._device_factory)

    def _new_instances(self, *args: str) -> list[InstanceInfo]:
        before = {i.index for i in self.list_instances()}
        out = self._run(*args)
        if "{" in out:  # an {"errcode": N, "errmsg": "..."} answer with exit status 0, as control gives
            reply = _load_json(out, args[0])
            if isinstance(reply, dict) and reply.get("errcode", 0) not in (0, None):
                raise DeviceError(f"MuMuManager {' '.join(args)}: errcode {reply.get('errcode')} "
                                  f"{reply.get('errmsg', '')}".strip())
        created = [i for i in self.list_instances() if i.index not in before]
        if not created:
            raise DeviceError(f"MuMuManager {' '.join(args)} reported success but no new instance appeared")
        return sorted(created, key=lambda i: i.index)

    def create(self, count: int = 1) -> list[InstanceInfo]:
        """Create ``count`` new instances (stopped, MuMu's default settings); returns them by index.

        Raises:
            DeviceError: MuMuManager failed, or no new instance appeared.
        """
        if not 1 <= count <= 100:
            raise DeviceError(f"create: count {count} is outside 1..100")
        return self._new_instances("create", "-n", str(count))

    def clone(self, source: int, count: int = 1) -> list[InstanceInfo]:
        """Clone instance ``source`` ``count`` times (its disk: the game, settings; stopped); returns the copies.

        Raises:
            DeviceError: MuMuManager failed, ``source`` does not exist, or no new instance appeared.
        """
        if not 1 <= count <= 100:
            raise DeviceError(f"clone: count {count} is outside 1..100")
        self.info(source)
        return self._new_instances("clone", "-v", str(source), "-n", str(count))

    def stop(self, index: int) -> None:
        info = self.info(index)
        if info.running:
            self._control(index, "shutdown")
