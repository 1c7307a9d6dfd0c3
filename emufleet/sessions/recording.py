"""Recording a device: :class:`RecordingDevice` reports every capture, input and read as an :class:`Entry`;
:class:`SessionWriter` writes entries as a session folder (docs/sessions.md); :class:`StepTracker` says which step
sent each input (fed with the routine's step events).

Example::

    tracker = StepTracker()
    with SessionWriter(folder, serial=device.serial, routine="demo/reach_home") as writer:
        recorded = RecordingDevice(device, writer.add, tracker)
        ctx = BotContext(recorded, templates, registry, on_event=tracker.on_step)
        RoutineRun(registry.get("demo/reach_home"), ctx).run()
        writer.finish(tracker.end_event("finished"))
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import cv2
import numpy as np

from emufleet.device.interface import DeviceLike, ShellResult
from emufleet.errors import EmufleetError
from emufleet.files import write_atomic
from emufleet.routines.context import StepEvent
from emufleet.sessions.format import (
    BLOBS_DIR,
    FORMAT_VERSION,
    FRAMES_DIR,
    SESSION_FILE,
    EndEvent,
    ForegroundEvent,
    FrameEvent,
    Header,
    InputEvent,
    InputKind,
    ReadEvent,
    Recorded,
    StepRef,
    blob_path,
    content_hash,
    frame_path,
)

__all__ = ["Entry", "RecordingDevice", "SessionWriter", "StepTracker", "same_frame"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One recorded event with ``t`` in Unix seconds (a writer makes it relative), and what it refers to: the
    captured ``image`` of a frame event (its ``frame`` name is filled in when written), a pushed or pulled ``blob``."""

    event: Recorded
    image: np.ndarray | None = None
    blob: bytes | None = None


class StepTracker:
    """Which step each thread is running, from the routine's step events (``on_step``); thread-safe.

    :meth:`current` is the innermost running step of the calling thread (device calls run on the step's thread);
    :attr:`failure` the innermost step that failed since the last top-level step of the main routine started.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks: dict[int, list[StepRef]] = {}
        self.failure: tuple[StepRef, str | None] | None = None

    def on_step(self, event: StepEvent) -> None:
        ref = StepRef(routine=event.routine, path=event.path, action=event.action)
        with self._lock:
            stack = self._stacks.setdefault(threading.get_ident(), [])
            if event.kind == "started":
                stack.append(ref)
                if event.depth == 0 and event.sentry is None:
                    self.failure = None
                return
            if stack:
                stack.pop()
            if event.kind == "failed" and event.sentry is None and self.failure is None:
                self.failure = (ref, event.error)

    def current(self) -> StepRef | None:
        with self._lock:
            stack = self._stacks.get(threading.get_ident())
            return stack[-1] if stack else None

    def end_event(self, reason: str, at: float | None = None) -> EndEvent:
        """An end record: ``reason`` and, when a step failed, that step and its error."""
        failure = self.failure
        return EndEvent(t=time.time() if at is None else at, reason=reason,
                        step=failure[0] if failure else None, error=failure[1] if failure else None)


class RecordingDevice:
    """``device`` with every capture, input and read also passed to ``sink`` as an :class:`Entry`.

    Inputs are recorded after the device accepted them (a refused input did not happen), with the running step
    from ``steps`` (with a tracker, an input outside any step is the supervisor's: ``by: supervisor``); everything
    else (``reconnect``, ``wait_ready``, ``reboot``, attributes) is the device's own.
    ``sink`` is called on the calling thread and must be quick and thread-safe.
    """

    def __init__(self, device: DeviceLike, sink: Callable[[Entry], None], steps: StepTracker | None = None) -> None:
        self.device = device
        self.serial = device.serial
        self._sink = sink
        self._steps = steps

    def __getattr__(self, name: str) -> Any:
        return getattr(self.device, name)

    def __repr__(self) -> str:
        return f"RecordingDevice({self.device!r})"

    def _input(self, kind: InputKind, result: ShellResult | None = None, data: bytes | None = None,
               **args: str | int | bool | None) -> None:
        step = self._steps.current() if self._steps is not None else None
        by: Literal["routine", "supervisor"] = "supervisor" if self._steps is not None and step is None else "routine"
        self._sink(Entry(InputEvent(t=time.time(), kind=kind, args=args, step=step, by=by,
                                    output=result.output if result else None,
                                    exit_code=result.exit_code if result else None), blob=data))
        if kind in ("app_start", "app_stop"):
            package = args["package"] if kind == "app_start" else None
            self._sink(Entry(ForegroundEvent(t=time.time(), package=str(package) if package else None)))

    def screenshot(self, **kwargs: Any) -> np.ndarray:
        started = time.perf_counter()
        frame: np.ndarray = self.device.screenshot(**kwargs)
        ms = (time.perf_counter() - started) * 1000.0
        self._sink(Entry(FrameEvent(t=time.time(), frame="", ms=round(ms, 3)), image=frame))
        return frame

    def tap(self, x: int, y: int) -> None:
        self.device.tap(x, y)
        self._input("tap", x=int(x), y=int(y))

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        self.device.swipe(x1, y1, x2, y2, duration_ms)
        self._input("swipe", x1=int(x1), y1=int(y1), x2=int(x2), y2=int(y2), duration_ms=int(duration_ms))

    def key_event(self, key: str | int) -> None:
        self.device.key_event(key)
        self._input("key", key=key)

    def input_text(self, text: str) -> None:
        self.device.input_text(text)
        self._input("text", text=text)

    def app_start(self, package: str, activity: str | None = None, **kwargs: Any) -> None:
        self.device.app_start(package, activity, **kwargs)
        self._input("app_start", package=package, activity=activity)

    def app_stop(self, package: str) -> None:
        self.device.app_stop(package)
        self._input("app_stop", package=package)

    def shell(self, command: str, **kwargs: Any) -> ShellResult:
        result: ShellResult = self.device.shell(command, **kwargs)
        self._input("shell", result, command=command, root=False)
        return result

    def su(self, command: str, **kwargs: Any) -> ShellResult:
        result: ShellResult = self.device.su(command, **kwargs)
        self._input("shell", result, command=command, root=True)
        return result

    def push(self, data: bytes, remote_path: str, **kwargs: Any) -> None:
        self.device.push(data, remote_path, **kwargs)
        self._input("push", data=data, path=remote_path, blob=content_hash(data))

    def getprop(self, name: str, **kwargs: Any) -> str:
        value: str = self.device.getprop(name, **kwargs)
        self._sink(Entry(ReadEvent(t=time.time(), kind="getprop", name=name, value=value)))
        return value

    def foreground_app(self) -> str | None:
        value = self.device.foreground_app()
        self._sink(Entry(ReadEvent(t=time.time(), kind="foreground_app", value=value)))
        return value

    def pull(self, remote_path: str) -> bytes:
        try:
            data = self.device.pull(remote_path)
        except EmufleetError:
            self._sink(Entry(ReadEvent(t=time.time(), kind="pull", name=remote_path, value=None)))
            raise
        self._sink(Entry(ReadEvent(t=time.time(), kind="pull", name=remote_path, value=content_hash(data)),
                         blob=data))
        return data


class SessionWriter:
    """Writes entries into ``folder`` as a session (created; an existing session there is refused): each line is
    flushed as it is written, so a crash leaves a readable session. Thread-safe.

    Args:
        folder: the session folder. serial: the device. routine: the routine that runs, if known.
        reason: why it was recorded. started_at: the session's time origin (Unix s; default now).

    Raises:
        SessionFormatError: ``folder`` already holds a session.
        OSError: the folder or a file cannot be written.
    """

    def __init__(self, folder: str | Path, *, serial: str, routine: str | None = None, reason: str = "recorded",
                 started_at: float | None = None) -> None:
        from emufleet.errors import SessionFormatError

        self.folder = Path(folder)
        path = self.folder / SESSION_FILE
        if path.exists():
            raise SessionFormatError("a session is already recorded here", file=path)
        (self.folder / FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._names: set[str] = set()
        self._last: tuple[np.ndarray, str] | None = None
        self._header = Header(version=FORMAT_VERSION, serial=serial, routine=routine, reason=reason,
                              started_at=time.time() if started_at is None else started_at)
        self._file = path.open("x", encoding="utf-8")
        self._line(self._header.model_dump(exclude_none=True))
        self.frames = self.inputs = 0
        self.finished = False

    @property
    def started_at(self) -> float:
        return self._header.started_at

    def _line(self, data: dict[str, Any]) -> None:
        self._file.write(json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n")
        self._file.flush()

    def _frame_name(self, image: np.ndarray) -> str:
        if self._last is not None and self._last[0] is image:  # the same array again (a ring's shared frame)
            return self._last[1]
        name = content_hash(image)
        if name not in self._names:
            if not cv2.imwrite(str(frame_path(self.folder, name)), image, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
                raise OSError(f"could not write {frame_path(self.folder, name)}")
            self._names.add(name)
        self._last = (image, name)
        return name

    def add(self, entry: Entry) -> None:
        """Write one entry (its time made relative to :attr:`started_at`; a frame stored once by its hash)."""
        with self._lock:
            if self.finished:
                return
            event = entry.event
            update: dict[str, object] = {"t": round(event.t - self.started_at, 4)}
            if isinstance(event, FrameEvent) and entry.image is not None:
                update["frame"] = self._frame_name(entry.image)
                self.frames += 1
            elif isinstance(event, InputEvent):
                self.inputs += 1
            if entry.blob is not None:
                name = content_hash(entry.blob)
                (self.folder / BLOBS_DIR).mkdir(exist_ok=True)
                if not blob_path(self.folder, name).exists():
                    write_atomic(blob_path(self.folder, name), entry.blob)
            self._line(event.model_copy(update=update).model_dump(exclude_none=True))

    def finish(self, end: EndEvent | None = None) -> None:
        """Write the end record (default: reason ``finished``) and close the file; later entries are dropped."""
        with self._lock:
            if self.finished:
                return
            end = end or EndEvent(t=time.time(), reason="finished")
            self._line(end.model_copy(update={"t": round(end.t - self.started_at, 4)}).model_dump(exclude_none=True))
            self.finished = True
            self._file.close()

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.finish(None if exc is None else EndEvent(t=time.time(), reason="failed", error=str(exc)))


def same_frame(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two frames are equal, cheaply: a sparse look first (two different screens almost always differ
    there), the full compare only when that agrees."""
    return a.shape == b.shape and np.array_equal(a[::16, ::16], b[::16, ::16]) and np.array_equal(a, b)
