"""The dependency-ordered start and stop (:mod:`emufleet.system.lifecycle`) and the health roll-up, with components
that record what happens to them (threads, a barrier proving that independent ones start together)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest

from emufleet.errors import OrchestrationError
from emufleet.system import (
    ComponentHealth,
    ComponentState,
    SystemStatus,
    roll_up,
    start_system,
    stop_system,
    system_health,
)

RUNNING, STOPPED, FAILED = ComponentState.RUNNING, ComponentState.STOPPED, ComponentState.FAILED


@dataclass
class Part:
    name: str
    requires: tuple[str, ...] = ()
    required: bool = True
    log: list[str] = field(default_factory=list)
    fail: bool = False
    gate: threading.Barrier | None = None
    state: ComponentState = STOPPED
    uses: tuple[str, ...] = ()

    def start(self, timeout_s: float) -> str:
        if self.gate is not None:
            self.gate.wait(timeout=30)  # both independent parts must be starting at once to pass
        if self.fail:
            raise OrchestrationError(f"{self.name} broke")
        self.log.append(f"start {self.name}")
        self.state = RUNNING
        return "started"

    def stop(self) -> str:
        self.log.append(f"stop {self.name}")
        self.state = STOPPED
        return "stopped"

    def health(self) -> ComponentHealth:
        return ComponentHealth(self.name, self.state, self.required)


def _system(log: list[str], **fails: bool) -> list[Part]:
    gate = threading.Barrier(2)
    return [Part("database", log=log, fail=fails.get("database", False), gate=gate),
            Part("prefect", log=log, fail=fails.get("prefect", False), gate=gate),
            Part("emulator", ("database",), log=log),
            Part("worker", ("prefect", "emulator"), required=False, log=log)]


def test_start_in_dependency_order_independent_parts_together_and_stop_in_reverse() -> None:
    log: list[str] = []
    parts = _system(log)
    results = start_system(parts)
    assert [r.name for r in results] == ["database", "prefect", "emulator", "worker"] and all(r.ok for r in results)
    assert log.index("start emulator") > log.index("start database")
    assert log[-1] == "start worker"
    assert system_health(parts).status is SystemStatus.HEALTHY
    log.clear()
    assert all(r.ok for r in stop_system(parts))
    assert log[0] == "stop worker" and log.index("stop database") > log.index("stop emulator")
    assert system_health(parts).status is SystemStatus.CRITICAL


def test_a_failed_start_skips_what_needs_it_and_reports_why() -> None:
    log: list[str] = []
    parts = _system(log, prefect=True)
    results = {r.name: r for r in start_system(parts)}
    assert not results["prefect"].ok and "prefect broke" in results["prefect"].message
    assert not results["worker"].ok and results["worker"].message == "skipped: prefect not ready"
    assert results["emulator"].ok and "start worker" not in log
    health = system_health(parts)
    assert health.status is SystemStatus.CRITICAL and health.reason == "not running: prefect"


def test_a_part_that_uses_another_starts_alongside_it_and_stops_before_it() -> None:
    log: list[str] = []
    gate = threading.Barrier(2)  # passes only while both start at once
    parts = [Part("prefect", log=log, gate=gate), Part("worker", required=False, uses=("prefect",), log=log, gate=gate)]
    assert all(r.ok for r in start_system(parts))
    log.clear()
    assert all(r.ok for r in stop_system(parts)) and log == ["stop worker", "stop prefect"]
    with pytest.raises(OrchestrationError, match="requires unknown cache"):
        start_system([Part("worker", uses=("cache",), log=log)])


def test_an_unknown_requirement_is_refused_before_anything_starts() -> None:
    log: list[str] = []
    with pytest.raises(OrchestrationError, match="requires unknown cache"):
        start_system([Part("worker", ("cache",), log=log)])
    assert log == []


@pytest.mark.parametrize(("states", "issues", "status", "reason"), [
    ((RUNNING, RUNNING, RUNNING), ("", "", ""), SystemStatus.HEALTHY, ""),
    ((RUNNING, RUNNING, STOPPED), ("", "", ""), SystemStatus.DEGRADED, "not running: console"),
    ((RUNNING, RUNNING, RUNNING), ("", "CPU 97 % > 90 %", ""), SystemStatus.DEGRADED, "adb: CPU 97 % > 90 %"),
    ((FAILED, RUNNING, STOPPED), ("", "", ""), SystemStatus.CRITICAL, "not running: database"),
])
def test_roll_up(states: tuple[ComponentState, ...], issues: tuple[str, ...], status: SystemStatus,
                 reason: str) -> None:
    names, required = ("database", "adb", "console"), (True, True, False)
    health = roll_up([ComponentHealth(n, s, r, issue=i) for n, s, r, i in zip(names, states, required, issues,
                                                                                strict=True)])
    assert (health.status, health.reason) == (status, reason)
    assert health.lines()[0] == f"system: {status.value}" + (f" ({reason})" if reason else "")
    assert [line.split()[0] for line in health.lines()[1:]] == list(names)
