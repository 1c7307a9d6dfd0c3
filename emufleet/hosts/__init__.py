"""Hosts: the machines that run emulators, and instance identity across them (host + serial).

Usage::

    from emufleet.hosts import HostStore, InstanceId, parse_placement
    HostStore().get("hostb").queue                   # 'hostb': its Prefect worker's work queue
    InstanceId("hostb", "127.0.0.1:16384").key       # 'hostb/127.0.0.1:16384' (locks, labels, tables)
    parse_placement({"host": "hostb", "instance": 3})   # Placement(host='hostb', ref=3)
"""

from __future__ import annotations

from emufleet.hosts.identity import LOCAL_HOST, InstanceId, Placement, check_host_name, check_serial, parse_placement
from emufleet.hosts.registry import WORK_POOL, Host, HostListing, HostStore, load_host, this_host

__all__ = ["LOCAL_HOST", "WORK_POOL", "Host", "HostListing", "HostStore", "InstanceId", "Placement",
           "check_host_name", "check_serial", "load_host", "parse_placement", "this_host"]
