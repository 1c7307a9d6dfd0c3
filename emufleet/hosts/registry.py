"""Hosts as data: which machines run emulators, how their instances are driven, which Prefect work queue serves
each (``hosts/<name>.yaml``; docs/orchestration.md "Several hosts").

Example (``hosts/hostb.yaml``)::

    version: 1
    name: hostb
    description: second Windows box, 8 MuMu instances
    backend: mumu                        # emulator backend on that host: simulator | adb | mumu
    backend_options: {manager: 'C:\\Program Files\\Netease\\MuMuPlayer-12.0\\shell\\MuMuManager.exe'}
    work_queue: hostb                    # queue of the emufleet work pool its Prefect worker polls (default: name)
    resources: {max_cpu_percent: 90, max_memory_percent: 90, wait_for_room_s: 60}   # emufleet.resources

There is always a host named ``local``: the machine running the launch (named ``EMUFLEET_HOST`` when set, which
each host of a multi-host fleet does, so that its instances' locks never collide with another host's). It needs no
file (a one-host setup stays zero-config); its instances use the group's own ``backend``/``backend_options``, and
its bots run in the launch's process. A ``hosts/local.yaml`` may still set its description or backend. A broken
file never hides the others: :meth:`HostStore.list` returns the valid hosts and one located error per broken file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from emufleet.boundary import JsonObject
from emufleet.datafiles import YAML_SUFFIXES, list_data_files
from emufleet.errors import HostValidationError
from emufleet.hosts.identity import LOCAL_HOST, check_host_name
from emufleet.resources.settings import ResourceSettings
from emufleet.settings import data_dir
from emufleet.validation import load_model

__all__ = ["WORK_POOL", "Host", "HostListing", "HostStore", "load_host", "this_host"]

WORK_POOL = "emufleet"  # the process work pool whose queues (one per host) serve the run-bot deployment


def this_host() -> str:
    """The name of the host this process runs on: ``EMUFLEET_HOST`` (set on each host's worker), else ``local``."""
    return check_host_name(os.environ.get("EMUFLEET_HOST") or LOCAL_HOST)


class Host(BaseModel):
    """One emulator host: its name, emulator backend (``None``: the group's), and its Prefect work queue."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str
    description: str = ""
    backend: str | None = None
    backend_options: JsonObject = Field(default_factory=dict)
    work_queue: str | None = Field(default=None, min_length=1, max_length=100)  # default: the host's name
    resources: ResourceSettings = Field(default_factory=ResourceSettings)  # load thresholds (emufleet.resources)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_host_name(value)

    @model_validator(mode="after")
    def _options_need_a_backend(self) -> Host:
        if self.backend_options and self.backend is None:
            raise ValueError("backend_options without a backend")
        return self

    @property
    def queue(self) -> str:
        """The work queue (of :data:`WORK_POOL`) whose worker runs this host's bots."""
        return self.work_queue or self.name

    @property
    def is_local(self) -> bool:
        """Whether this host is the one this process runs on (:func:`this_host`)."""
        return self.name == this_host()

    def backend_for(self, backend: str, options: JsonObject) -> tuple[str, JsonObject]:
        """The backend and options that drive this host's instances, given a group's ``backend``/``options``:
        the host's own when it names one (options merged over the group's for the same backend), else the group's.
        """
        if self.backend is None:
            return backend, dict(options)
        merged = {**options, **self.backend_options} if self.backend == backend else dict(self.backend_options)
        return self.backend, merged


def load_host(path: str | Path) -> Host:
    """Read and validate one host file.

    Raises:
        HostValidationError: unreadable file, bad YAML or an invalid field, as ``file:line:col: field: message``.
    """
    return load_model(Host, path, error=HostValidationError, what="a host definition")


@dataclass(frozen=True, slots=True)
class HostListing:
    """Result of :meth:`HostStore.list`: valid hosts by name (``local`` always among them), and located errors."""

    hosts: dict[str, Host] = field(default_factory=dict)
    errors: list[HostValidationError] = field(default_factory=list)


class HostStore:
    """The host definitions of one folder (default ``<project root>/hosts``)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else data_dir("hosts")

    def list(self) -> HostListing:
        """Every host, sorted by name, with the implicit ``local``; broken files are reported, not raised."""
        implicit = {name: Host(name=name, description="this machine (implicit)") for name in {LOCAL_HOST, this_host()}}
        listing = HostListing(hosts=implicit)
        files: dict[str, Path] = {}
        for path in list_data_files(self.folder, YAML_SUFFIXES, error=HostValidationError):
            try:
                host = load_host(path)
            except HostValidationError as exc:
                listing.errors.append(exc)
                continue
            if host.name in files:
                listing.errors.append(HostValidationError(f"host {host.name!r} is also defined in "
                                                          f"{files[host.name].name}", file=path, field="name"))
                continue
            files[host.name] = path
            listing.hosts[host.name] = host  # a file for local / this host replaces its implicit entry
        return HostListing(hosts=dict(sorted(listing.hosts.items())), errors=listing.errors)

    def get(self, name: str) -> Host:
        """The host named ``name`` (``local`` and :func:`this_host` always exist).

        Raises:
            HostValidationError: no such host (the message lists the known ones and the broken files), or its
                file is invalid.
        """
        listing = self.list()
        if name in listing.hosts:
            return listing.hosts[name]
        broken = [err for err in listing.errors if err.file and Path(err.file).stem == name]
        if broken:
            raise broken[0]
        known = ", ".join(listing.hosts)
        raise HostValidationError(f"no host named {name!r} in {self.folder} (known: {known})", field="host")
