"""Every adbutils call of reference §2 against the simulator, through the real adb server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import adbutils
import numpy as np
import pytest

from emufleet.sim import Simulator
from tests.sim.helpers import BASIC, PACKAGE, PREFS, wait_until


@pytest.fixture
def sim(simulator: Callable[..., Simulator]) -> Simulator:
    return simulator(instances=1, scenario=BASIC)


@pytest.fixture
def dev(adb_server: adbutils.AdbClient, sim: Simulator) -> adbutils.AdbDevice:
    return adb_server.device(sim.instances[0].serial)


def test_banner_and_features(adb_server: adbutils.AdbClient, sim: Simulator, dev: adbutils.AdbDevice) -> None:
    info = {i.serial: i for i in adb_server.list(extended=True)}[sim.instances[0].serial]
    assert info.state == "device"
    assert info.tags["model"] == "MuMu" and info.tags["device"] == "mumu"
    assert set(dev.get_features().split(",")) == {"shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir"}


def test_shell_v1_and_shell2(dev: adbutils.AdbDevice) -> None:
    assert dev.shell("echo hello") == "hello"
    assert dev.shell(["echo", "a b", ";", "c"]) == "a b ; c"  # a list is shlex-quoted by adbutils
    assert dev.shell("nope-cmd") == "/system/bin/sh: nope-cmd: not found"  # stderr merged in v1
    r1 = dev.shell2("echo out; false")
    assert (r1.returncode, r1.output) == (1, "out\n")
    r2 = dev.shell2("echo out; echo err >&2; exit 5", v2=True)
    assert (r2.returncode, r2.stdout, r2.stderr) == (5, "out\n", "err\n")
    assert dev.shell2("missing", v2=True).returncode == 127


def test_screenshot_framebuffer_window_size(sim: Simulator, dev: adbutils.AdbDevice) -> None:
    sim.instances[0].set_state("home")
    image = dev.screenshot(error_ok=False)
    assert image.size == (540, 960)
    assert image.getpixel((10, 10)) == (0x30, 0xA0, 0x50)  # home is #30a050
    fb = dev.framebuffer()
    assert fb.size == (540, 960) and fb.getpixel((10, 10))[:3] == (0x30, 0xA0, 0x50)
    assert dev.screenshot(display_id=0).size == (540, 960)
    assert tuple(dev.window_size()) == (540, 960)
    raw = dev.shell("screencap", encoding=None)
    pixels = np.frombuffer(raw[-540 * 960 * 4:], np.uint8).reshape(960, 540, 4)
    assert tuple(pixels[10, 10]) == (0x30, 0xA0, 0x50, 255)


def test_input_and_apps(sim: Simulator, dev: adbutils.AdbDevice) -> None:
    inst = sim.instances[0]
    dev.click(90, 150)  # the launcher's app icon → splash
    assert inst.state in ("splash", "title")
    dev.swipe(10, 20, 30, 40, 0.25)
    dev.keyevent("KEYCODE_HOME")
    dev.app_stop(PACKAGE)
    assert inst.state == "launcher"
    dev.app_start(PACKAGE, f"{PACKAGE}.MainActivity")
    assert dev.app_current().package == PACKAGE
    dev.app_stop(PACKAGE)
    dev.app_start(PACKAGE)  # monkey
    assert dev.getprop("sys.boot_completed") == "1"
    assert dev.prop.get("ro.product.model") == "MuMu"
    kinds = [e.kind for e in inst.events if e.kind in ("tap", "swipe", "key", "am", "monkey")]
    assert kinds == ["tap", "swipe", "key", "am", "am", "am", "monkey"]
    swipe = next(e for e in inst.events if e.kind == "swipe")
    assert swipe.detail["ms"] == 250


def test_sync(tmp_path: Path, sim: Simulator, dev: adbutils.AdbDevice) -> None:
    src = tmp_path / "acc.xml"
    src.write_bytes(b"<map><string name='deviceAccount'>a</string></map>")
    dev.sync.push(src, "/sdcard/new/dir/acc.xml")  # fixed_push_mkdir: parents are created
    assert sim.instances[0].read_file("/sdcard/new/dir/acc.xml") == src.read_bytes()
    assert dev.sync.read_bytes("/sdcard/new/dir/acc.xml") == src.read_bytes()
    info = dev.sync.stat("/sdcard/new/dir/acc.xml")
    assert info.size == len(src.read_bytes()) and info.mtime.year > 2000
    missing = dev.sync.stat("/sdcard/missing")
    assert (missing.mode, missing.size, missing.mtime) == (0, 0, None)  # all zeros: adbutils' "does not exist"
    assert dev.sync.exists("/sdcard/new/dir/acc.xml") and not dev.sync.exists("/sdcard/missing")
    names = {f.path for f in dev.sync.list("/sdcard/new/dir")}
    assert names >= {"acc.xml"}
    dst = tmp_path / "back.xml"
    dev.sync.pull("/sdcard/new/dir/acc.xml", dst)
    assert dst.read_bytes() == src.read_bytes()
    big = bytes(range(256)) * 1200  # 300 KB: several DATA chunks and WRTEs
    dev.sync.push(big, "/sdcard/big.bin")
    assert dev.sync.read_bytes("/sdcard/big.bin") == big
    # the seed's inject flow: stage on /sdcard, then su -c cp into the app's private prefs (push there is denied)
    with pytest.raises(adbutils.AdbError):
        dev.sync.push(src, PREFS)
    dev.shell(f"am force-stop {PACKAGE}; su -c 'cp /sdcard/new/dir/acc.xml {PREFS}'")
    assert sim.instances[0].read_file(PREFS) == src.read_bytes()


def test_reboot_cycle(adb_server: adbutils.AdbClient, sim: Simulator, dev: adbutils.AdbDevice) -> None:
    inst = sim.instances[0]
    inst.set_state("home")
    dev.reboot()  # shell:reboot; the device answers "1" a moment longer (reference §5.8), then drops
    # reference §5.8: wait for the server to see the device go, before waiting for it to come back
    wait_until(lambda: {i.serial: i.state for i in adb_server.list()}.get(inst.serial) != "device",
               what="the device to go offline")
    adb_server.wait_for(inst.serial, state="device", timeout=30)  # host-serial:<s>:wait-for-any-device
    wait_until(lambda: dev.getprop("sys.boot_completed") == "1", timeout_s=30, what="boot completed")
    assert inst.state == "launcher"
    assert [e.kind for e in inst.events].count("reboot") == 1


def test_two_instances_in_parallel(adb_server: adbutils.AdbClient, simulator: Callable[..., Simulator]) -> None:
    sim = simulator(instances=2, scenario=BASIC)
    assert [i.port - sim.base_port for i in sim.instances] == [0, 32]
    sim.instances[1].set_state("home")
    errors: list[BaseException] = []
    sizes: dict[int, set[tuple[int, int, int]]] = {0: set(), 1: set()}

    def work(i: int) -> None:
        d = adb_server.device(sim.instances[i].serial)
        try:
            for n in range(5):
                sizes[i].add(d.screenshot(error_ok=False).getpixel((5, 5)))
                d.click(500, 5 + n)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sizes[0] == {(0x20, 0x28, 0x30)} and sizes[1] == {(0x30, 0xA0, 0x50)}
    assert [len([e for e in i.events if e.kind == "tap"]) for i in sim.instances] == [5, 5]


def test_input_text_with_shell_metacharacters_arrives_as_text(sim: Simulator, dev: adbutils.AdbDevice) -> None:
    inst = sim.instances[0]
    inst.write_file("/sdcard/keep.txt", b"keep")
    dev.shell(["input", "text", "; rm -rf /"])  # adbutils shlex-quotes list arguments
    dev.shell(["input", "text", "$(rm /sdcard/keep.txt) && rm /sdcard/keep.txt"])
    assert [e.detail["text"] for e in inst.events if e.kind == "text"] == [
        "; rm -rf /", "$(rm /sdcard/keep.txt) && rm /sdcard/keep.txt"]
    assert inst.read_file("/sdcard/keep.txt") == b"keep"
    assert not [e for e in inst.events if e.kind == "file" and e.detail["path"] != "/sdcard/keep.txt"]
