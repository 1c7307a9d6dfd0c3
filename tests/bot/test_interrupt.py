"""The interrupt scope: the one object the supervision loop, an operator, a stop and the attempt runner meet through."""

from __future__ import annotations

from emufleet.bot.interrupt import Handler, Interrupt, InterruptScope
from emufleet.bot.recovery import Fault, FaultKind, Rung
from emufleet.routines import Controller


def _fault(kind: FaultKind = FaultKind.ADB_DOWN) -> Interrupt:
    return Interrupt.for_fault(Fault(kind, f"instance unhealthy: {kind}", {"problem": str(kind)}))


def test_an_interrupt_is_accepted_only_while_an_attempt_runs_unshielded() -> None:
    controller = Controller()
    scope = InterruptScope(controller)
    early = _fault()
    assert not scope.interrupt(early) and early.handled_by == "shielded"  # no attempt runs yet
    with scope.running():
        first, second = _fault(), _fault(FaultKind.FROZEN_SCREEN)
        assert scope.interrupt(first) and controller.stopped
        assert not scope.interrupt(second) and second.handled_by == "superseded"
        assert scope.take() is first and scope.take() is None
        assert first.handler is Handler.LADDER and not first.handled
    left = _fault()
    assert not scope.interrupt(left)


def test_a_fault_seen_before_a_recovery_is_never_spent_after_it() -> None:
    """Issue 23 item 5, the race in its order: a health check begins in one scope; the step fails on its own and
    the recovery starts; the check's fault arrives during the recovery, or after it: it is stale either way."""
    controller = Controller()
    scope = InterruptScope(controller)
    with scope.running():
        before = scope.generation  # the supervision loop starts a health check here
        own = _fault(FaultKind.DEVICE_ERROR)  # the step failed by itself meanwhile
        with scope.shielded("recovering") as pending:
            assert pending is None and not controller.stopped
            during = _fault()
            assert not scope.interrupt(during, generation=before) and during.handled_by == "shielded"
            own.handle("recovery")
        after = _fault()
        assert not scope.interrupt(after, generation=before) and after.handled_by == "stale"
        assert scope.take() is None and not controller.stopped, "nothing is left to spend after the recovery"
        fresh = _fault()
        assert scope.interrupt(fresh, generation=scope.generation), "a check begun after the recovery counts"


def test_the_interrupt_pending_when_a_shield_begins_is_the_shields() -> None:
    controller = Controller()
    scope = InterruptScope(controller)
    with scope.running():
        raced = _fault()
        assert scope.interrupt(raced)
        with scope.shielded("recovering") as pending:
            assert pending is raced and not controller.stopped, "the stop did its job; the recovery may act"
        assert raced.handled_by == "recovering" and scope.take() is None


def test_an_operator_request_waits_for_the_shield_and_keeps_the_pause() -> None:
    controller = Controller()
    scope = InterruptScope(controller)
    scope.request(Rung.RESTART_APP)  # before any attempt: raised when one runs
    with scope.running():
        taken = scope.take()
        assert taken is not None and taken.handler is Handler.OPERATOR and taken.rung is Rung.RESTART_APP
        with scope.shielded("recovering"):
            scope.request(Rung.RECONNECT)  # during a recovery: raised after it
            assert scope.pending is None
        later = scope.take()
        assert later is not None and later.rung is Rung.RECONNECT
        controller.pause()
        with scope.shielded("recovering", repause=True):
            pass
        assert controller.paused, "a paused bot is paused again after an operator's rung"


def test_a_stop_wins_over_everything_and_is_never_spent() -> None:
    controller = Controller()
    scope = InterruptScope(controller)
    with scope.running():
        scope.stop()
        assert scope.stopping and controller.stopped
        assert not scope.interrupt(_fault())
        with scope.shielded("recovering"):
            assert controller.stopped, "a stopped bot's recovery does not run its rungs"
        assert controller.stopped and scope.stopping
