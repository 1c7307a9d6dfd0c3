"""The public surface: every name in ``__all__`` exists; the heartbeat thread reports, never raises."""

from __future__ import annotations

import importlib
import threading

import pytest

from emufleet.errors import LeaseError
from emufleet.pools import HeartbeatThread


@pytest.mark.parametrize("module", ["emufleet.db", "emufleet.pools", "emufleet.accounts", "emufleet.pools.leases",
                                    "emufleet.pools.filters", "emufleet.pools.provider"])
def test_all_names_exist(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__all__ and all(hasattr(mod, name) for name in mod.__all__)


def test_heartbeat_errors_are_kept_and_the_thread_goes_on() -> None:
    calls: list[int] = []
    two = threading.Event()

    def beat() -> None:
        calls.append(1)
        if len(calls) >= 2:
            two.set()
        raise LeaseError("gone", account_id=7)

    thread = HeartbeatThread(beat, interval_s=0.01).start()
    assert two.wait(30)
    thread.stop()
    assert len(thread.errors) >= 2 and isinstance(thread.errors[0], LeaseError) and thread.beats == 0
    with pytest.raises(ValueError):
        HeartbeatThread(beat, interval_s=0)
