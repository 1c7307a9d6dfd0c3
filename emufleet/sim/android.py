"""Android commands of the fake shell: screencap, input, am, monkey, pm, pidof, wm, dumpsys, reboot.

Output formats are the ones clients parse (reference §2, §3.6): ``wm size`` → ``Physical size: WxH``,
``dumpsys display`` → a ``DisplayViewport{… orientation=0 …}`` line first, ``dumpsys window`` →
``mCurrentFocus=Window{… u0 pkg/act}``, raw ``screencap`` → ``w, h, format=1, colour space`` (uint32 LE) + RGBA.
"""

from __future__ import annotations

import re
import struct

from emufleet.sim.device import LAUNCHER, DeviceModel
from emufleet.sim.faults import DropConnection
from emufleet.sim.files import FsError
from emufleet.sim.keys import key_code
from emufleet.sim.render import Frame
from emufleet.sim.shell import Context, register

__all__ = ["ORIGIN_VARIABLE", "capture", "corrupt", "raw_screencap"]

# ``EMUFLEET_ORIGIN=launch-1 input tap 10 20``: input events name who sent them (``origin`` in the event log), so
# tests can tell two drivers of one instance apart; on a real device the variable is set and ignored.
ORIGIN_VARIABLE = "EMUFLEET_ORIGIN"

_RAW_FORMAT_RGBA_8888 = 1
_DATASPACE_SRGB = 1
_INPUT_SOURCES = {"keyboard", "mouse", "joystick", "touchnavigation", "touchpad", "trackball", "stylus", "dpad",
                  "gesture", "touchscreen", "gamepad", "rotaryencoder"}


def capture(device: DeviceModel) -> Frame:
    """The frame a capture sees now: the current screen, or black (booting, ``black_screen`` fault)."""
    if device.faults.black_screen:
        return device.renderer.black
    return device.frame()


def corrupt(data: bytes) -> bytes:
    """A broken capture: PTY-style ``\n`` → ``\r\n`` mangling (old Android, reference §3.4), then cut in half."""
    mangled = data.replace(b"\n", b"\r\n")
    return mangled[: len(mangled) // 2]


def raw_screencap(frame: Frame) -> bytes:
    """Raw ``screencap`` output: 16-byte header (w, h, format, colour space) then RGBA."""
    return struct.pack("<4I", frame.width, frame.height, _RAW_FORMAT_RGBA_8888, _DATASPACE_SRGB) + frame.rgba


@register("screencap")
async def _screencap(ctx: Context, args: list[str]) -> int:
    png, path = False, None
    it = iter(args)
    for arg in it:
        if arg == "-p":
            png = True
        elif arg == "-d":
            next(it, None)
        elif arg == "-h":
            ctx.io.err("usage: screencap [-hp] [-d display-id] [FILENAME]\n")
            return 0
        elif arg.startswith("-"):
            return ctx.error(f"invalid option -- '{arg[1:]}'")
        else:
            path = arg
    device = ctx.device
    await device.faults.delay("screencap")
    frame = capture(device)
    if path is not None and path.endswith(".png"):
        png = True
    data = frame.png if png else raw_screencap(frame)
    if device.faults.corrupt_screen:
        data = corrupt(data)
    if path is not None:
        try:
            device.files.write(path, data, root=ctx.root)
        except FsError as exc:
            return ctx.error(f"Error opening file: {exc.path} ({exc.strerror})")
        return 0
    if device.faults.take_drop("screencap"):
        raise DropConnection(data[: len(data) // 2])
    ctx.io.out(data)
    return 0


def _number(text: str) -> float:
    value = float(text)
    return int(value) if value.is_integer() else value


@register("input")
async def _input(ctx: Context, args: list[str]) -> int:
    if args and args[0] in _INPUT_SOURCES:
        args = args[1:]
    if not args:
        return ctx.error("usage: input [<source>] <command> [<arg>...]")
    command, rest = args[0], args[1:]
    device = ctx.device
    origin = ctx.shell.env.get(ORIGIN_VARIABLE) or None
    await device.faults.delay("input")
    try:
        if command == "tap" and len(rest) == 2:
            device.tap(_number(rest[0]), _number(rest[1]), origin=origin)
        elif command == "swipe" and len(rest) in (4, 5):
            x1, y1, x2, y2 = (_number(v) for v in rest[:4])
            device.swipe(x1, y1, x2, y2, int(rest[4]) if len(rest) == 5 else 300, origin=origin)
        elif command == "keyevent" and rest:
            for key in (k for k in rest if not k.startswith("--")):
                code = key_code(key)
                if code is None:
                    return ctx.error(f"Error: unknown key event '{key}'")
                device.key(code, origin=origin)
        elif command == "text" and rest:
            device.text(rest[0].replace("%s", " "), origin=origin)  # Android's input types %s as a space
        else:
            return ctx.error(f"Error: Unknown command: {command}")
    except ValueError as exc:
        return ctx.error(f"Error: {exc}")
    return 0


def _component(device: DeviceModel, component: str) -> tuple[str, str]:
    package, _, activity = component.partition("/")
    if activity.startswith("."):
        activity = package + activity
    return package, activity


@register("am")
async def _am(ctx: Context, args: list[str]) -> int:
    if not args:
        return ctx.error("usage: am [start|force-stop|kill] ...")
    device = ctx.device
    command, rest = args[0], args[1:]
    await device.faults.delay("am")
    if command in ("force-stop", "kill", "stop-app"):
        packages = [a for a in rest if not a.startswith("--") and a.replace(".", "").replace("_", "").isalnum()]
        for package in packages:
            device.log("am", action=command, package=package)
            if package == device.scenario.package:
                device.app_stop(command)
        return 0
    if command not in ("start", "start-activity"):
        return ctx.error(f"Unknown command: {command}")
    wait, component, flags = False, None, None
    it = iter(rest)
    for arg in it:
        if arg == "-W":
            wait = True
        elif arg == "-n":
            component = next(it, None)
        elif arg == "-f":
            flags = next(it, None)
        elif arg in ("-a", "-c", "-d", "-t", "--user", "-R", "-P", "--start-profiler", "--display"):
            next(it, None)
        elif arg.startswith("--e") or arg in ("-e",):
            next(it, None)
            next(it, None)
    if component is None or "/" not in component:
        ctx.io.err("Error: Activity not started, unable to resolve Intent\n")
        return 1
    package, activity = _component(device, component)
    device.log("am", action="start", package=package, activity=activity, flags=flags, wait=wait)
    ctx.io.out(f"Starting: Intent {{ {'flg=' + flags + ' ' if flags else ''}cmp={package}/{activity} }}\n")
    if not device.installed(package):
        ctx.io.err(f"Error type 3\nError: Activity class {{{package}/{activity}}} does not exist.\n")
        return 1
    hot = device.app_running
    if package == device.scenario.package:
        device.app_start(activity)
    if hot:
        ctx.io.out("Warning: Activity not started, its current task has been brought to the front\n")
    if wait:
        ctx.io.out(f"Status: ok\nLaunchState: {'HOT' if hot else 'COLD'}\nActivity: {package}/{activity}\n"
                   "TotalTime: 0\nWaitTime: 1\nComplete\n")
    return 0


@register("monkey")
async def _monkey(ctx: Context, args: list[str]) -> int:
    device = ctx.device
    package = None
    it = iter(args)
    for arg in it:
        if arg == "-p":
            package = next(it, None)
        elif arg in ("-c", "--throttle", "-s", "--pct-syskeys"):
            next(it, None)
    await device.faults.delay("am")
    device.log("monkey", package=package)
    if package is None or package != device.scenario.package:
        ctx.io.err("** No activities found to run, monkey aborted.\n")
        return 252
    device.app_start()
    ctx.io.out("  bash arg: -p\n  bash arg: " + package + "\nEvents injected: 1\n"
               "## Network stats: elapsed time=12ms (0ms mobile, 0ms wifi, 12ms not connected)\n")
    return 0


@register("pidof")
def _pidof(ctx: Context, args: list[str]) -> int:
    pids = [str(pid) for name in args if not name.startswith("-") and (pid := ctx.device.pid_of(name))]
    if not pids:
        return 1
    ctx.io.out(" ".join(pids) + "\n")
    return 0


@register("pm")
def _pm(ctx: Context, args: list[str]) -> int:
    device = ctx.device
    if not args:
        return ctx.error("usage: pm [list|path|clear] ...")
    command, rest = args[0], [a for a in args[1:] if not a.startswith("-")]
    packages = sorted({device.scenario.package, LAUNCHER[0]})
    if command == "list" and rest[:1] == ["packages"]:
        ctx.io.out("".join(f"package:{p}\n" for p in packages if len(rest) < 2 or rest[1] in p))
        return 0
    if command == "path" and rest:
        if not device.installed(rest[0]):
            return 1
        ctx.io.out(f"package:/data/app/~~sim==/{rest[0]}-1/base.apk\n")
        return 0
    if command == "clear" and rest:
        package = rest[0]
        device.log("pm", action="clear", package=package)
        if not device.installed(package):
            ctx.io.out("Failed\n")
            return 1
        if package == device.scenario.package:
            device.app_stop("pm clear")
            data = f"/data/data/{package}"
            if device.files.exists(data, root=True):
                device.files.remove(data, root=True, recursive=True)
            device.files.mkdir(data, root=True, parents=True)
        ctx.io.out("Success\n")
        return 0
    return ctx.error(f"Unknown command: {command}")


_WM_VALUES = {"size": re.compile(r"^\d{2,5}x\d{2,5}$"), "density": re.compile(r"^(7[2-9]|[89]\d|[1-9]\d{2}|1000)$")}


@register("wm")
def _wm(ctx: Context, args: list[str]) -> int:
    """``wm size [WxH|reset]`` and ``wm density [N|reset]``: Android's output, an override line when one is set
    (kept as text in :attr:`DeviceModel.wm_overrides`; the device scales frames to a size override)."""
    device, s = ctx.device, ctx.device.scenario
    what, value = (args + ["", ""])[:2]
    if what not in _WM_VALUES or len(args) > 2:
        return ctx.error("usage: wm size [WxH|reset] | wm density [N|reset]")
    if value == "reset":
        device.set_wm_override(what, None)
    elif value:
        if not _WM_VALUES[what].match(value):
            return ctx.error(f"Error: bad {what} {value}")
        device.set_wm_override(what, value)
    else:
        physical = f"{s.width}x{s.height}" if what == "size" else device.getprop("ro.sf.lcd_density")
        ctx.io.out(f"Physical {what}: {physical}\n")
        if what in device.wm_overrides:
            ctx.io.out(f"Override {what}: {device.wm_overrides[what]}\n")
    return 0


@register("dumpsys")
def _dumpsys(ctx: Context, args: list[str]) -> int:
    device = ctx.device
    s = device.scenario
    service = args[0] if args else ""
    package, activity = device.focus()
    if service == "display":
        ctx.io.out(f"  mDefaultViewport=DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, "
                   f"uniqueId='local:0', physicalPort=0, orientation=0, logicalFrame=Rect(0, 0 - {s.width}, "
                   f"{s.height}), physicalFrame=Rect(0, 0 - {s.width}, {s.height}), deviceWidth={s.width}, "
                   f"deviceHeight={s.height}}}\n  mCurrentOrientation=0\n")
    elif service == "window":
        # an ANR dialog takes the focus, as Android's does; the focused app stays the game
        focus = f"Application Not Responding: {package}" if device.anr_shown() else f"{package}/{activity}"
        ctx.io.out(f"  mCurrentFocus=Window{{5e1f2a3 u0 {focus}}}\n"
                   f"  mFocusedApp=ActivityRecord{{8c7d6e5 u0 {package}/{activity} t12}}\n")
    elif service == "activity":
        pid = device.pid_of(package) or 0
        ctx.io.out(f"  mResumedActivity: ActivityRecord{{8c7d6e5 u0 {package}/{activity} t12}}\n"
                   f"  ACTIVITY {package}/{activity} 3a4b5c6 pid={pid}\n")
    elif service == "SurfaceFlinger" and "--display-id" in args:
        ctx.io.out('Display 4619827259835644672 (HWC display 0): port=0 pnpId=MMU displayName="MuMu display"\n')
    elif service == "package" and len(args) > 1:
        if not device.installed(args[1]):
            ctx.io.out(f"Unable to find package: {args[1]}\n")
        else:
            version = s.package_version if args[1] == s.package else "1.0"
            ctx.io.out(f"Packages:\n  Package [{args[1]}] (5a1b2c3):\n    versionCode=1 minSdk=24 targetSdk=34\n"
                       f"    versionName={version}\n")
    elif service == "power":
        ctx.io.out("Display Power: state=ON\n  mHoldingDisplaySuspendBlocker=true\n")
    else:
        ctx.io.out(f"Can't find service: {service}\n")
    return 0


@register("reboot")
def _reboot(ctx: Context, args: list[str]) -> int:
    down_s, boot_s = ctx.device.reboot_times
    ctx.device.reboot(down_s, boot_s, shutdown_s=0.05)  # the reply gets out before adbd goes down
    return 0
