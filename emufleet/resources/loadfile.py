"""A host's load as the launch running on it last saw it: ``<state>/system/load-<host>.json``, written every second
by the launch (:class:`adapters.resources.LaunchLoad`), read by the console's ``/metrics`` and ``emufleet status``."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from emufleet.boundary import JsonObject
from emufleet.files import write_atomic
from emufleet.settings import state_dir

__all__ = ["LOAD_FRESH_S", "load_path", "read_load", "write_load"]

LOAD_FRESH_S = 30.0  # a load file older than this belongs to a launch that ended


def load_path(host: str) -> Path:
    """``<state>/system/load-<host>.json``."""
    return state_dir() / "system" / f"load-{host}.json"


def write_load(host: str, state: JsonObject) -> None:
    """Replace ``host``'s load file with ``state`` (stamped ``at`` = now); a write that fails is skipped."""
    with contextlib.suppress(OSError):
        write_atomic(load_path(host), json.dumps({**state, "host": host, "at": time.time()}))


def read_load(host: str) -> JsonObject | None:
    """``host``'s load file when a launch wrote it in the last :data:`LOAD_FRESH_S` seconds, else ``None``."""
    try:
        data = json.loads(load_path(host).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("at"), int | float) \
            or time.time() - float(data["at"]) > LOAD_FRESH_S:
        return None
    return data
