"""The MuMu backend against recorded MuMuManager.exe outputs (this machine has no MuMu).

The subprocess runner is the one injected boundary: it replays files from ``data/`` and records every argv.
``start`` goes all the way to a ready :class:`Device` by pointing the recorded ``adb_port`` at a simulator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from emufleet.device.backends import MumuBackend, get_backend
from emufleet.device.backends.mumu import RunResult, parse_info
from emufleet.errors import DeviceError, DeviceTimeoutError, InputError

DATA = Path(__file__).resolve().parent / "data"
MANAGER = r"C:\Program Files\Netease\MuMuPlayerGlobal-12.0\nx_main\MuMuManager.exe"


def recorded(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


class RecordedRunner:
    """Replays MuMuManager outputs: ``script`` maps an argv tail to the outputs of its successive calls."""

    def __init__(self, script: dict[tuple[str, ...], list[RunResult]]) -> None:
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout_s: float) -> RunResult:
        self.calls.append(list(argv))
        outputs = self.script[tuple(argv[1:])]
        return outputs.pop(0) if len(outputs) > 1 else outputs[0]


def ok(text: str = "") -> RunResult:
    return RunResult(0, text)


def test_parse_info_all_instances() -> None:
    infos = parse_info(recorded("mumu_info_all.json"))
    assert [(i.index, i.serial, i.running, i.booted, i.state, i.pid) for i in infos] == [
        (0, "127.0.0.1:16384", True, True, "start_finished", 15112),
        (1, "127.0.0.1:16417", True, False, "starting_rom", 21980),  # the real, shifted port (reference §8)
        (2, "127.0.0.1:16448", False, False, "stopped", None),      # off: the port formula
    ]
    assert infos[0].name == "MuMuPlayerGlobal-12.0"


def test_parse_info_single_instance_shape() -> None:
    (info,) = parse_info(recorded("mumu_info_single_stopped.json"))
    assert (info.index, info.running, info.serial) == (0, False, "127.0.0.1:16384")


@pytest.mark.parametrize("text", ["", "MuMuManager: unknown command", "{\"0\": {\"name\": \"x\"}}", "[1, 2]",
                                  "{\"index\": \"0\", "])
def test_parse_info_rejects_bad_output(text: str) -> None:
    with pytest.raises(DeviceError, match="MuMuManager info"):
        parse_info(text)


def test_list_instances_command_line() -> None:
    runner = RecordedRunner({("info", "-v", "all"): [ok(recorded("mumu_info_all.json"))]})
    backend = MumuBackend(MANAGER, runner=runner)
    assert [i.index for i in backend.list_instances()] == [0, 1, 2]
    assert runner.calls == [[MANAGER, "info", "-v", "all"]]


def test_stop_shuts_down_only_running_instances() -> None:
    runner = RecordedRunner({
        ("info", "-v", "0"): [ok(recorded("mumu_info_single_started.json"))],
        ("control", "-v", "0", "shutdown"): [ok()],
    })
    MumuBackend(MANAGER, runner=runner).stop(0)
    assert runner.calls[-1] == [MANAGER, "control", "-v", "0", "shutdown"]

    idle = RecordedRunner({("info", "-v", "0"): [ok(recorded("mumu_info_single_stopped.json"))]})
    MumuBackend(MANAGER, runner=idle).stop(0)
    assert all("control" not in call for call in idle.calls)


def test_control_errors_and_failures_are_device_errors() -> None:
    runner = RecordedRunner({
        ("info", "-v", "0"): [ok(recorded("mumu_info_single_started.json"))],
        ("control", "-v", "0", "shutdown"): [ok(recorded("mumu_control_error.json"))],
    })
    with pytest.raises(DeviceError, match="player is not running"):
        MumuBackend(MANAGER, runner=runner).stop(0)
    failing = RecordedRunner({("info", "-v", "0"): [RunResult(1, "", "access denied")]})
    with pytest.raises(DeviceError, match="exited 1: access denied"):
        MumuBackend(MANAGER, runner=failing).is_running(0)


def test_a_hanging_manager_is_a_timeout() -> None:
    def hang(argv: Sequence[str], timeout_s: float) -> RunResult:
        raise TimeoutError(f"no answer in {timeout_s} s")

    with pytest.raises(DeviceTimeoutError):
        MumuBackend(MANAGER, runner=hang, command_timeout_s=0.5).list_instances()


def test_get_backend_rejects_unknown_names_and_options() -> None:
    with pytest.raises(InputError, match="unknown emulator backend"):
        get_backend("bluestacks")
    with pytest.raises(InputError, match="mumu"):
        get_backend("mumu", no_such_option=1)


def _with_port(name: str, port: int) -> str:
    data: dict[str, Any] = json.loads(recorded(name))
    data["adb_port"] = port
    return json.dumps(data)


def test_start_launches_under_the_guard_and_waits_until_ready(simulator: Callable[..., Any]) -> None:
    sim = simulator(connect=False)
    port = sim.instances[0].port
    runner = RecordedRunner({
        ("info", "-v", "0"): [ok(recorded("mumu_info_single_stopped.json")),
                              ok(recorded("mumu_info_single_starting.json")),
                              ok(_with_port("mumu_info_single_started.json", port))],
        ("control", "-v", "0", "launch"): [ok()],
    })
    guarded: list[tuple[str, int]] = []

    @contextmanager
    def guard(index: int) -> Iterator[None]:
        guarded.append(("enter", index))
        yield
        guarded.append(("exit", index))

    device = MumuBackend(MANAGER, runner=runner, launch_guard=guard, poll_s=0.01).start(0, timeout_s=30)
    assert device.serial == f"127.0.0.1:{port}"
    assert device.getprop("sys.boot_completed") == "1"
    assert [c[1:] for c in runner.calls] == [["info", "-v", "0"], ["control", "-v", "0", "launch"],
                                             ["info", "-v", "0"], ["info", "-v", "0"]]
    assert guarded == [("enter", 0), ("exit", 0)]
    device.disconnect()


def test_create_and_clone_report_the_new_instances() -> None:
    before, after = ok(recorded("mumu_info_all.json")), ok(recorded("mumu_info_all_after_create.json"))
    runner = RecordedRunner({("info", "-v", "all"): [before, after], ("create", "-n", "2"): [ok()]})
    created = MumuBackend(MANAGER, runner=runner).create(2)
    assert [(i.index, i.running, i.serial) for i in created] == [(3, False, "127.0.0.1:16480"),
                                                                 (4, False, "127.0.0.1:16512")]
    assert runner.calls[1] == [MANAGER, "create", "-n", "2"]
    runner = RecordedRunner({("info", "-v", "all"): [before, after],
                             ("info", "-v", "0"): [ok(recorded("mumu_info_single_stopped.json"))],
                             ("clone", "-v", "0", "-n", "2"): [ok()]})
    assert [i.index for i in MumuBackend(MANAGER, runner=runner).clone(0, 2)] == [3, 4]


def test_create_that_makes_nothing_or_answers_an_error_code_fails() -> None:
    same = ok(recorded("mumu_info_all.json"))
    runner = RecordedRunner({("info", "-v", "all"): [same], ("create", "-n", "1"): [ok()]})
    with pytest.raises(DeviceError, match="no new instance appeared"):
        MumuBackend(MANAGER, runner=runner).create()
    runner = RecordedRunner({("info", "-v", "all"): [same],
                             ("create", "-n", "1"): [ok(recorded("mumu_control_error.json"))]})
    with pytest.raises(DeviceError, match="errcode -200"):
        MumuBackend(MANAGER, runner=runner).create()
    with pytest.raises(DeviceError, match="outside 1..100"):
        MumuBackend(MANAGER, runner=runner).clone(0, 0)
