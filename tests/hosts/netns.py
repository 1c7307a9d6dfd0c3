"""Hosts as Linux network namespaces, for multi-host tests: each "host" has its own loopback (so every host's
first simulated instance can be ``127.0.0.1:16384``, as on real MuMu hosts) and a veth pair to the root namespace,
where the Prefect server and PostgreSQL listen on the root side's addresses.

Needs root and ``ip`` (iproute2). :func:`netns_missing` says why not, for the ``netns`` marker's skip (a failure
when ``EMUFLEET_REQUIRE_NETNS=1``, as in CI).
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["NetnsHost", "host_namespaces", "netns_missing"]


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=30)


@functools.cache
def netns_missing() -> str | None:
    """Why network namespaces cannot be made here (``None``: they can)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "no `ip` command (apt-get install iproute2)"
    probe = f"emf-probe-{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


@dataclass(frozen=True)
class NetnsHost:
    """One namespace "host": its emufleet host name, namespace, own address and the root side's (``gateway``)."""

    name: str
    netns: str
    address: str
    gateway: str

    def argv(self, args: Sequence[str]) -> list[str]:
        """``args`` run inside this host's namespace."""
        return ["ip", "netns", "exec", self.netns, *args]

    def run(self, args: Sequence[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(args), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]

    def popen(self, args: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(args), text=True, **kwargs)  # type: ignore[call-overload]


@contextlib.contextmanager
def host_namespaces(names: Sequence[str]) -> Iterator[list[NetnsHost]]:
    """One namespace per name, each with ``lo`` up and a veth pair ``10.<n>.<i>.1`` (root) ↔ ``10.<n>.<i>.2``, and a
    route to ``10.<n>.0.0/16`` through it, so every namespace reaches every root-side address (a server listening
    on the first host's ``gateway`` serves them all, and nothing outside); all removed on exit (links go with their
    namespace)."""
    tag = f"{os.getpid() % 10000}{random.randrange(100):02d}"  # noqa: S311 - a name, not a secret
    net = random.randrange(200, 250)  # noqa: S311
    hosts: list[NetnsHost] = []
    try:
        for i, name in enumerate(names):
            host = NetnsHost(name, f"emf-{tag}-{i}", f"10.{net}.{i}.2", f"10.{net}.{i}.1")
            root_if, ns_if = f"ef{tag}r{i}", f"ef{tag}n{i}"
            _ip("netns", "add", host.netns)
            hosts.append(host)
            _ip("link", "add", root_if, "type", "veth", "peer", "name", ns_if)
            _ip("link", "set", ns_if, "netns", host.netns)
            _ip("addr", "add", f"{host.gateway}/24", "dev", root_if)
            _ip("link", "set", root_if, "up")
            for args in (("addr", "add", f"{host.address}/24", "dev", ns_if), ("link", "set", ns_if, "up"),
                         ("link", "set", "lo", "up"), ("route", "add", f"10.{net}.0.0/16", "via", host.gateway)):
                _ip("-n", host.netns, *args)
        yield hosts
    finally:
        for host in hosts:
            _ip("netns", "del", host.netns, check=False)
