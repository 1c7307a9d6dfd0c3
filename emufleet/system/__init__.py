"""The local system as one thing (seed 003's lifecycle and health orchestrator): its components started in
dependency order with readiness waits, stopped in reverse, and their health rolled up into Healthy / Degraded /
Critical (``emufleet up``, ``down``, ``status``; the console's ``/ready`` and ``GET /api/system``).
"""

from emufleet.system.components import (
    AdbServerComponent,
    BackendComponent,
    ConsoleComponent,
    DatabaseComponent,
    HostLoadComponent,
    SimulatorComponent,
)
from emufleet.system.health import ComponentHealth, ComponentState, SystemHealth, SystemStatus, roll_up
from emufleet.system.lifecycle import Component, StepResult, start_system, stop_system, system_health
from emufleet.system.records import ProcessRecord

__all__ = ["AdbServerComponent", "BackendComponent", "Component", "ComponentHealth", "ComponentState",
           "ConsoleComponent", "DatabaseComponent", "HostLoadComponent", "ProcessRecord", "SimulatorComponent",
           "StepResult", "SystemHealth", "SystemStatus", "roll_up", "start_system", "stop_system", "system_health"]
