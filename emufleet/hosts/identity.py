"""Instance identity across hosts: an instance is a *host* plus the adb *serial* it has there.

Every MuMu host's first instance is ``127.0.0.1:16384`` (each host's ADB ports listen on its own loopback), so a
serial alone names nothing once there are two hosts. :class:`InstanceId` is the one type for "which device": bot
specs, statuses, events and launch results hold one (a pydantic field of this type reads ``"<host>/<serial>"`` or a
bare serial on ``local``, and dumps as :attr:`InstanceId.key`); flow-run labels, events, artifacts and CLI
tables show :attr:`InstanceId.key` (``<host>/<serial>``); instance locks
and their claim tags are ``instance:<host>:<serial>`` (Prefect refuses ``/`` in concurrency-limit names). Serials
never contain ``/`` (``127.0.0.1:16384``, ``emulator-5554``, USB serials), so the key splits back unambiguously.

In group files an instance is written as an index or serial on the group's host (``0``, ``"127.0.0.1:16448"``),
as ``"<host>/<index or serial>"`` (``"hostb/2"``, ``"hostb/127.0.0.1:16384"``), or as a mapping
``{host: hostb, instance: 3}``: :func:`parse_placement` reads all three.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from emufleet.boundary import YamlValue

__all__ = ["HOST_NAME", "LOCAL_HOST", "SERIAL_RULE", "InstanceId", "Placement", "check_host_name", "check_serial",
           "is_serial", "parse_placement"]

LOCAL_HOST = "local"
#: Host names: 1–63 of a-z A-Z 0-9 . _ - (they appear in lock names, work-queue names and file names).
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


def check_host_name(name: str) -> str:
    """``name`` if it is a valid host name.

    Raises:
        ValueError: the name breaks :data:`HOST_NAME`.
    """
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise ValueError(f"host name {name!r}: use 1–63 letters, digits, '.', '_' or '-', starting with a letter "
                         "or digit")
    return name


#: What a serial that names an instance is (255: the tables' key columns).
SERIAL_RULE = "1–255 characters, no '/', no surrounding spaces"


def is_serial(text: object) -> bool:
    """Whether ``text`` can name an instance on a host (:data:`SERIAL_RULE`)."""
    return isinstance(text, str) and 0 < len(text) <= 255 and "/" not in text and text == text.strip()


def check_serial(serial: str) -> str:
    """``serial`` if it can name an instance on a host (:data:`SERIAL_RULE`).

    Raises:
        ValueError: it cannot.
    """
    if not is_serial(serial):
        raise ValueError(f"serial {serial[:40] if isinstance(serial, str) else serial!r}: {SERIAL_RULE}")
    return serial


@dataclass(frozen=True, slots=True, order=True)
class InstanceId:
    """One emulator instance: the host it runs on and its adb serial there."""

    host: str
    serial: str

    def __post_init__(self) -> None:
        check_host_name(self.host)
        check_serial(self.serial)

    @property
    def key(self) -> str:
        """``<host>/<serial>``: the name used in locks, labels, events, artifacts and tables."""
        return f"{self.host}/{self.serial}"

    def __str__(self) -> str:
        return self.key

    @classmethod
    def parse(cls, text: str, *, default_host: str = LOCAL_HOST) -> InstanceId:
        """``"hostb/127.0.0.1:16384"`` → ``InstanceId("hostb", "127.0.0.1:16384")``; a bare serial is on
        ``default_host``.

        Raises:
            ValueError: a bad host name or serial.
        """
        host, sep, serial = text.partition("/")
        return cls(host, serial) if sep else cls(default_host, text)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        """As a pydantic field: an :class:`InstanceId`, or its key as text (:meth:`parse`); dumps give the key."""
        def coerce(value: object) -> InstanceId:
            if isinstance(value, cls):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError(f"an instance is written '<host>/<serial>' or a serial, not {type(value).__name__}")

        return core_schema.json_or_python_schema(
            json_schema=core_schema.no_info_after_validator_function(cls.parse, core_schema.str_schema()),
            python_schema=core_schema.no_info_plain_validator_function(coerce),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda i: i.key))


@dataclass(frozen=True, slots=True)
class Placement:
    """An instance as a group names it: the host, and an index (through the host's backend) or a serial."""

    host: str
    ref: int | str

    def __str__(self) -> str:
        return f"{self.host}/{self.ref}"


def parse_placement(value: YamlValue, *, default_host: str = LOCAL_HOST) -> Placement:
    """Read one ``instances:`` item of a group file: ``3``, ``"127.0.0.1:16448"``, ``"hostb/3"``,
    ``"hostb/127.0.0.1:16384"`` or ``{host: hostb, instance: 3}``.

    Raises:
        ValueError: a negative index, an empty serial, a bad host name, or another shape.
    """
    if isinstance(value, Placement):
        return value
    host = default_host
    if isinstance(value, dict):
        unknown = set(value) - {"host", "instance"}
        if unknown or "instance" not in value:
            raise ValueError("an instance mapping has exactly 'instance' and optionally 'host' "
                             f"(got {', '.join(sorted(map(str, value))) or 'nothing'})")
        host, value = value.get("host", default_host), value["instance"]
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
    elif isinstance(value, str) and "/" in value:
        host, _, value = value.partition("/")
        value = int(value) if re.fullmatch(r"-?\d+", value) else value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"an instance is an index, a serial or {{host, instance}}, not {value!r}")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"instance index {value} is negative")
    if isinstance(value, str) and (not value.strip() or "/" in value):
        raise ValueError(f"instance serial {value!r}: not empty, no '/'")
    return Placement(check_host_name(host), value)
