"""Resource-aware running (seed 003 "Resource Manager"): a host's CPU, memory and capture latency, the launch gate
that starts bots only while the host has room (and sheds the rest after a bounded wait), and degraded mode, which
slows the bots' captures while the host is saturated. Thresholds: ``hosts/<name>.yaml`` ``resources:``."""

from emufleet.resources.monitor import CapturePacer, HostMonitor, LoadChange, LoadSample
from emufleet.resources.settings import ResourceSettings

__all__ = ["CapturePacer", "HostMonitor", "LoadChange", "LoadSample", "ResourceSettings"]
