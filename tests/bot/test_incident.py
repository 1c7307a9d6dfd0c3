"""The recovery ladder's incidents (pure, no device): escalation for a fault that comes back, a fresh ladder for a
fault of another kind, a new incident once the interrupted step completes."""

from __future__ import annotations

from emufleet.bot.recovery import FaultKind, Incident, Rung


def _take(incident: Incident, kind: FaultKind, index: int = 4) -> Rung | None:
    """What the session does for one fault: mark the interruption, pick the next rung, take it."""
    incident.interrupted(index, kind)
    rung = incident.next_rung(kind, adb_alive=True)
    if rung is not None:
        incident.took(rung)
    return rung


def test_a_fault_that_comes_back_escalates_until_no_rung_is_left() -> None:
    incident = Incident(tuple(Rung))
    rungs = [_take(incident, FaultKind.STUCK) for _ in range(5)]
    assert rungs == [Rung.ROUTINE, Rung.RESTART_APP, Rung.RESTART_INSTANCE, Rung.RECONNECT, None]


def test_a_fault_of_another_kind_starts_the_ladder_afresh() -> None:
    """Unrelated faults within one long step, each recovered, must not use up the ladder (benchmarks/chaos.py:
    the fifth fault found no rung and the bot gave up with its budget untouched)."""
    incident = Incident(tuple(Rung))
    kinds = [FaultKind.ADB_DOWN, FaultKind.BAD_FRAME, FaultKind.NOT_BOOTED, FaultKind.STUCK, FaultKind.ADB_DOWN]
    assert [_take(incident, k) for k in kinds] == [Rung.RECONNECT, Rung.RESTART_APP, Rung.RESTART_INSTANCE,
                                                   Rung.ROUTINE, Rung.RECONNECT]
    assert _take(incident, FaultKind.ADB_DOWN) == Rung.ROUTINE, "the same kind again escalates"


def test_completing_the_interrupted_step_ends_the_incident() -> None:
    incident = Incident(tuple(Rung))
    assert _take(incident, FaultKind.STUCK, index=3) == Rung.ROUTINE
    incident.completed(2)  # a step re-run before the interrupted one: no sign the fault is gone
    assert _take(incident, FaultKind.STUCK, index=3) == Rung.RESTART_APP
    incident.completed(3)
    assert _take(incident, FaultKind.STUCK, index=5) == Rung.ROUTINE
