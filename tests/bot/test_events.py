"""Bot events in the engine: kinds, flat payloads, the bot reference."""

from __future__ import annotations

import numpy as np
import pytest

from emufleet.bot.events import EVENT_KINDS, BotEvent, BotRef, EventKind
from emufleet.hosts import InstanceId

REF = BotRef("demo", 2, InstanceId("local", "127.0.0.1:16448"), flow_run_id="9f1c…", account="demo_0001")


def test_kinds_are_the_dotted_names() -> None:
    assert "bot.stuck" in EVENT_KINDS and "instance.unhealthy" in EVENT_KINDS and "account.leased" in EVENT_KINDS
    assert len(set(EVENT_KINDS)) == len(EVENT_KINDS) == len(EventKind)
    assert all(k.count(".") == 1 and not k.startswith("emufleet.") for k in EVENT_KINDS)


def test_event_accepts_a_kind_string_and_copies_its_payload() -> None:
    payload: dict[str, str | int | float | bool | None] = {"rung": "restart_app", "failures": 1}
    event = BotEvent("bot.recovering", REF, payload)  # type: ignore[arg-type]
    payload["rung"] = "changed"
    assert event.kind is EventKind.RECOVERING and event.name == "emufleet.bot.recovering"
    assert event.payload == {"rung": "restart_app", "failures": 1}
    assert event.time > 0


@pytest.mark.parametrize("payload", [{"step": [1, 2]}, {"idle_s": {"a": 1}}, {1: "x"}, {"window": np.zeros(2)}])
def test_payload_must_be_flat(payload: dict) -> None:
    with pytest.raises(TypeError, match="payload"):
        BotEvent(EventKind.STUCK, REF, payload)


@pytest.mark.parametrize(("kind", "payload", "match"), [
    (EventKind.STUCK, {"idle": 3.0}, "carry no 'idle'"), (EventKind.STUCK, {"reason": "no-progress"}, "not one of"),
    (EventKind.HEARTBEAT, {"attempt": 1}, "carry no"), (EventKind.RECOVERED, {"rung": "restart-app"}, "not one of")])
def test_a_key_or_value_the_kind_does_not_declare_is_refused(kind: EventKind, payload: dict, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        BotEvent(kind, REF, payload)


def test_heartbeats_carry_the_metrics_keys() -> None:
    assert BotEvent(EventKind.HEARTBEAT, REF, {"m.capture_errors": 2}).payload == {"m.capture_errors": 2}


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        BotEvent("bot.exploded", REF)  # type: ignore[arg-type]


def test_with_account_keeps_the_rest() -> None:
    other = REF.with_account(None)
    assert other.account is None and other.instance == REF.instance and other.instance.host == "local" and REF.account


def test_numbers_are_made_plain() -> None:
    event = BotEvent(EventKind.HEARTBEAT, REF, {"steps_done": np.int64(7), "capture_p50_ms": np.float32(12.5),
                                                "capture_p95_ms": float("nan"), "state": "running"})
    assert event.payload == {"steps_done": 7, "capture_p50_ms": 12.5, "capture_p95_ms": None, "state": "running"}
    assert type(event.payload["steps_done"]) is int and type(event.payload["capture_p50_ms"]) is float

