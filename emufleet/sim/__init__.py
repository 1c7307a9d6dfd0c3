"""Simulated MuMu instances that speak the real ADB device transport (docs/architecture.md "Simulator").

The real adb server and unmodified adbutils drive them exactly as they drive MuMu: instance *i* listens on
``127.0.0.1:base_port + 32·i`` and serves ``shell:`` (v1), ``shell,v2:``, ``exec:``, ``sync:``, ``framebuffer:``
and ``reboot:`` over the transport protocol; a fake ``sh`` runs the commands clients send; screens come from a
YAML scenario (:mod:`emufleet.sim.scenario`); faults are injected per instance (:mod:`emufleet.sim.faults`)::

    from emufleet.sim import Simulator
    with Simulator(instances=2, scenario="demo", base_port=free_port) as sim:
        inst = sim.instances[0]
        inst.state, inst.events, inst.inject_fault("black_screen")

Layout: ``protocol`` (framing) → ``transport`` (connection, streams) → ``services`` (+ ``syncsvc``,
``interactive``) → ``shell`` (+ ``shellparse``; commands in ``commands``, ``filecmds``, ``android``, ``control``)
→ ``device`` (the model: ``files``, ``screen``, ``faults``, ``keys``) → ``scenario`` (+ ``scenario_schema``) and
``render``; ``server`` ties them into :class:`Simulator`; ``daemon`` runs one as a process (``emufleet sim``).
"""

from __future__ import annotations

from emufleet.sim.device import SimEvent
from emufleet.sim.faults import FAULT_KINDS, parse_fault
from emufleet.sim.scenario import Scenario, load_scenario
from emufleet.sim.server import DEFAULT_BASE_PORT, PORT_STRIDE, SimInstance, Simulator

__all__ = ["DEFAULT_BASE_PORT", "FAULT_KINDS", "PORT_STRIDE", "Scenario", "SimEvent", "SimInstance", "Simulator",
           "load_scenario", "parse_fault"]
