"""The sessions under a folder (default: the flight recorders' ``<state>/sessions``), newest first, read cheaply:
the header and the last line of each ``session.jsonl``, not the frames."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from emufleet.sessions.format import SESSION_FILE
from emufleet.settings import state_dir

__all__ = ["SessionInfo", "group_sessions_root", "list_sessions", "sessions_root", "slug"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """One session folder: where, its header's serial, routine, reason and start (Unix s), how it ended (``end``:
    the end record's reason, ``None`` while it is being written), its failing step, and its size in lines/bytes;
    ``error`` instead when the header cannot be read."""

    folder: Path
    serial: str = ""
    routine: str | None = None
    reason: str = ""
    started_at: float = 0.0
    end: str | None = None
    step: str | None = None
    lines: int = 0
    frames: int = 0
    error: str | None = None

    @property
    def started(self) -> datetime:
        """:attr:`started_at` as an aware UTC time."""
        return datetime.fromtimestamp(self.started_at, UTC)

    @property
    def label(self) -> str:
        """The folder relative to the sessions root when it is under it (``group/bot-0/<run>/<session>``)."""
        try:
            return str(self.folder.relative_to(sessions_root()))
        except ValueError:
            return str(self.folder)


def sessions_root() -> Path:
    """``<state>/sessions``: where flight recorders write (docs/sessions.md)."""
    return state_dir() / "sessions"


def slug(text: str) -> str:
    """``text`` as one folder name (a group's or a run's): runs of other characters become ``-``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "x"


def group_sessions_root(group: str) -> Path:
    """``<state>/sessions/<group>``: the flight sessions of ``group``'s bots (one folder per bot and run below)."""
    return sessions_root() / slug(group)


def _info(folder: Path) -> SessionInfo:
    try:
        with (folder / SESSION_FILE).open(encoding="utf-8") as f:
            lines = f.read().splitlines()
        head = json.loads(lines[0])
        last = json.loads(lines[-1]) if len(lines) > 1 else {}
    except (OSError, UnicodeDecodeError, IndexError, json.JSONDecodeError) as exc:
        return SessionInfo(folder, error=f"unreadable: {exc}")
    if not isinstance(head, dict) or head.get("type") != "session" or not isinstance(last, dict):
        return SessionInfo(folder, error="unreadable: the first line is not a session header")
    ended = last.get("type") == "end"
    step = last.get("step") if ended else None
    frames = folder / "frames"
    return SessionInfo(folder, serial=str(head.get("serial", "")), routine=head.get("routine"),
                       reason=str(head.get("reason", "")), started_at=float(head.get("started_at") or 0.0),
                       end=str(last.get("reason")) if ended else None,
                       step=f"{step.get('path')} {step.get('action')}" if isinstance(step, dict) else None,
                       lines=len(lines), frames=sum(1 for _ in frames.iterdir()) if frames.is_dir() else 0)


def list_sessions(root: Path | None = None, *, limit: int = 200, since: float | None = None,
                  until: float | None = None) -> list[SessionInfo]:
    """The sessions found under ``root`` (any depth), newest first, at most ``limit``; an unreadable one is listed
    with its ``error`` (one bad folder never hides the others). ``since``/``until`` (Unix s, either open): only the
    sessions started in that span (a launch's, with ``root`` its group's folder); unreadable ones are then left out.
    """
    root = root or sessions_root()
    if not root.is_dir():
        return []
    dated = sorted(((p.parent.stat().st_mtime, p.parent) for p in root.rglob(SESSION_FILE)), reverse=True)
    if since is None and until is None:
        return [_info(folder) for _, folder in dated[:limit]]
    found = []
    for mtime, folder in dated:
        if since is not None and mtime < since:
            break  # newest first, and a folder is written after its session starts: none left started in the span
        info = _info(folder)
        if info.error is None and (since is None or info.started_at >= since) and (
                until is None or info.started_at <= until):
            found.append(info)
            if len(found) >= limit:
                break
    return found
