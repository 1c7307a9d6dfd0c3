"""The session format, version 1 (docs/sessions.md): a folder with ``session.jsonl`` and ``frames/<hash>.png``.

``session.jsonl`` holds one JSON object per line: first a :class:`Header` (``"type": "session"``), then events in
time order, each with ``t`` (seconds since ``started_at``):

* :class:`FrameEvent` ``frame``: a capture; ``frame`` names ``frames/<frame>.png``, ``ms`` the capture latency;
* :class:`InputEvent` ``input``: a tap, swipe, key, text, app start/stop, shell command or file push, with the step
  that sent it (``step``) when known, and a shell command's output and exit code;
* :class:`ReadEvent` ``read``: a property read, a file pulled, the foreground app asked (replayed as answers);
* :class:`ForegroundEvent` ``foreground``: the foreground app as last known (at the start, on app start/stop);
* :class:`EndEvent` ``end``: how the recording ended (its reason, the failing step and its error, if any).

A frame is stored once, named by the first 32 hex digits of the SHA-256 of its pixels (``H×W×3`` uint8, BGR order,
row-major: the bytes of the array a capture returns); pushed and pulled file contents go to ``blobs/<hash>`` the
same way. Readers ignore keys they do not know; a change that old readers would misread bumps ``version``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Literal, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from emufleet.boundary import YamlValue
from emufleet.errors import SessionFormatError

__all__ = ["EndEvent", "Event", "ForegroundEvent", "FORMAT_VERSION", "FrameEvent", "Header", "InputEvent",
           "InputKind", "ReadEvent", "Recorded", "SESSION_FILE", "Session", "StepRef", "content_hash", "frame_path"]

FORMAT_VERSION = 1
SESSION_FILE = "session.jsonl"
FRAMES_DIR = "frames"
BLOBS_DIR = "blobs"
InputKind = Literal["tap", "swipe", "key", "text", "app_start", "app_stop", "shell", "push"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StepRef(_Record):
    """The step that sent an input or failed: routine key, step path (``steps[1].actions[0]``), action name."""

    routine: str
    path: str
    action: str

    def __str__(self) -> str:
        return f"{self.routine}:{self.path} {self.action}"


class Header(_Record):
    """The first line: format version, the device (serial, frame size in device px), when and why it was
    recorded (``started_at``: Unix seconds), the routine that ran, if known."""

    type: Literal["session"] = "session"
    version: int
    serial: str
    width: int | None = None
    height: int | None = None
    started_at: float
    reason: str = "recorded"
    routine: str | None = None
    recorder: str = "emufleet"


class FrameEvent(_Record):
    type: Literal["frame"] = "frame"
    t: float
    frame: str
    ms: float = 0.0


class InputEvent(_Record):
    """An input. Arguments by kind: tap ``x y``; swipe ``x1 y1 x2 y2 duration_ms``; key ``key``; text ``text``;
    app_start ``package activity``; app_stop ``package``; shell ``command root`` (+ ``output exit_code``); push
    ``path blob``. Coordinates are device pixels. ``by``: ``routine`` (a step sent it: ``step``), ``supervisor``
    (a bot's health probe or recovery rung, outside any step: a replay does not expect it) or ``person``."""

    type: Literal["input"] = "input"
    t: float
    kind: InputKind
    args: dict[str, str | int | bool | None]
    by: Literal["routine", "supervisor", "person"] = "routine"
    step: StepRef | None = None
    output: str | None = None
    exit_code: int | None = None

    def describe(self) -> str:
        """``tap(270, 612)``, ``shell('am force-stop x')``: the input as a person reads it."""
        values = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in self.args.values())
        return f"{self.kind}({values})"

    def same_as(self, other: InputEvent) -> bool:
        """The same input (kind and arguments; time, step and result aside)."""
        return self.kind == other.kind and self.args == other.args


class ReadEvent(_Record):
    """A read the device answered: ``getprop`` (``name`` → ``value``), ``foreground_app`` (``value``), ``pull``
    (``name`` = remote path, ``value`` = blob hash, ``None`` when the file did not exist)."""

    type: Literal["read"] = "read"
    t: float
    kind: Literal["getprop", "foreground_app", "pull"]
    name: str = ""
    value: str | None = None


class ForegroundEvent(_Record):
    type: Literal["foreground"] = "foreground"
    t: float
    package: str | None = None  # written only when known: an absent package is "nothing in the foreground"


class EndEvent(_Record):
    """How the recording ended: ``reason`` (``finished``, ``failed``, ``gave up: …``, ``stuck: …``, ``operator``),
    the step that failed and its error when one did."""

    type: Literal["end"] = "end"
    t: float
    reason: str
    step: StepRef | None = None
    error: str | None = None


Recorded = FrameEvent | InputEvent | ReadEvent | ForegroundEvent | EndEvent
Event = Annotated[Recorded, Field(discriminator="type")]
_EVENT: TypeAdapter[Recorded] = TypeAdapter(Event)
T = TypeVar("T")


def _json(path: Path, line_no: int, line: str) -> YamlValue:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise SessionFormatError(f"not JSON: {exc.msg}", file=path, line=line_no, col=exc.colno) from None


def _located(path: Path, line_no: int, parse: Callable[[], T]) -> T:
    """``parse()``, its validation error located at ``path:line_no`` with the first error's field."""
    try:
        return parse()
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise SessionFormatError(err["msg"], file=path, line=line_no, field=field) from None


def content_hash(data: bytes | np.ndarray) -> str:
    """The first 32 hex digits of the SHA-256 of ``data`` (an array: its raw bytes, C order)."""
    raw = np.ascontiguousarray(data).tobytes() if isinstance(data, np.ndarray) else data
    return hashlib.sha256(raw).hexdigest()[:32]


def frame_path(folder: Path, name: str) -> Path:
    return folder / FRAMES_DIR / f"{name}.png"


def blob_path(folder: Path, name: str) -> Path:
    return folder / BLOBS_DIR / name


class Session:
    """A recorded session, read from ``folder`` (header, events; frames decoded on demand and kept).

    Raises:
        SessionFormatError: no ``session.jsonl``, a line that is not a known record (file:line: field: message),
            a version newer than :data:`FORMAT_VERSION`, an event frame with no file.
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        path = self.folder / SESSION_FILE
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SessionFormatError(f"cannot read the session: {exc.strerror or exc}", file=path) from None
        except UnicodeDecodeError as exc:
            raise SessionFormatError(f"not UTF-8 text: {exc.reason}", file=path) from None
        records = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
        if not records:
            raise SessionFormatError("empty: no header line", file=path)
        first, *rest = records
        head = _json(path, *first)
        self.header: Header = _located(path, first[0], lambda: Header.model_validate(head))
        if self.header.version > FORMAT_VERSION:
            raise SessionFormatError(f"format version {self.header.version} is newer than this reader's "
                                     f"{FORMAT_VERSION}", file=path, line=first[0], field="version")
        self.events: list[Recorded] = []
        for n, line in rest:
            data = _json(path, n, line)
            self.events.append(_located(path, n, lambda: _EVENT.validate_python(data)))  # noqa: B023 - called now
        for (n, _), event in zip(rest, self.events, strict=True):
            if isinstance(event, FrameEvent) and not frame_path(self.folder, event.frame).is_file():
                raise SessionFormatError(f"frame file {FRAMES_DIR}/{event.frame}.png is missing", file=path, line=n,
                                         field="frame")
        self._frames: dict[str, np.ndarray] = {}

    def __iter__(self) -> Iterator[Recorded]:
        return iter(self.events)

    @property
    def inputs(self) -> list[InputEvent]:
        return [e for e in self.events if isinstance(e, InputEvent)]

    @property
    def captures(self) -> list[FrameEvent]:
        return [e for e in self.events if isinstance(e, FrameEvent)]

    @property
    def end(self) -> EndEvent | None:
        return next((e for e in reversed(self.events) if isinstance(e, EndEvent)), None)

    def frame(self, name: str) -> np.ndarray:
        """Frame ``name`` as ``(H, W, 3)`` uint8 BGR (decoded once). Raises ``SessionFormatError`` if undecodable."""
        image = self._frames.get(name)
        if image is None:
            path = frame_path(self.folder, name)
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise SessionFormatError("not a decodable PNG", file=path)
            self._frames[name] = image
        return image

    def blob(self, name: str) -> bytes:
        """The content of blob ``name`` (a pushed or pulled file). Raises ``SessionFormatError`` if missing."""
        path = blob_path(self.folder, name)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise SessionFormatError(f"cannot read: {exc.strerror or exc}", file=path) from None
