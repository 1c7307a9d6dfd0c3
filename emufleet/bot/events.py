"""What a bot reports about itself: typed events (:class:`BotEvent`) about one bot (:class:`BotRef`).

The engine only builds these records; the Prefect adapter (``adapters/events.py``) turns each one into a Prefect
event named ``emufleet.<kind>`` whose primary resource is the bot (``emufleet.bot.<group>.<bot>``) and whose related
resources are its flow run, its instance, its group and its account, so the Prefect Event Feed tells one bot's
story, and the shipped automations (``adapters/automations.py``) react to them. docs/supervision.md lists them.

Payloads are flat: keys are strings, values ``str | int | float | bool | None`` (numpy scalars are made plain,
NaN becomes ``None``; anything else raises ``TypeError`` at construction), so an event reads the same in the Event
Feed, in an automation's template and in a test.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

from emufleet.hosts.identity import InstanceId

__all__ = ["EVENT_KINDS", "PAYLOADS", "VALUES", "BotEvent", "BotRef", "EventKind", "Payload", "PayloadValue"]

PayloadValue: TypeAlias = str | int | float | bool | None
Payload: TypeAlias = dict[str, PayloadValue]


class EventKind(StrEnum):
    """The kinds of bot event; the Prefect event name is ``"emufleet." + kind``. What each carries is
    :data:`PAYLOADS` (and :data:`VALUES` for the keys whose values are a closed set); docs/supervision.md's event
    tables say the same, and ``tests/bot/test_events_doc.py`` holds the two together."""

    STARTED = "bot.started"  # the session began driving its instance (after connect/ready)
    #: A top-level step finished, **sampled** (at most one every 30 s: enough for the "no step for 10 minutes"
    #: automation, without one event per step).
    STEP_COMPLETED = "bot.step-completed"
    #: Liveness of the bot's supervision loop every ``health.heartbeat`` with its figures and its cumulative metrics
    #: ``m.*`` (:mod:`emufleet.bot.metrics`: what the console's ``/metrics`` shows). Zombie runs are detected from
    #: Prefect's own flow-run heartbeats, not from these (docs/supervision.md, "Notifications").
    HEARTBEAT = "bot.heartbeat"
    STUCK = "bot.stuck"  # no step and no input for stuck_after, a click loop, or a step timeout
    RECOVERING = "bot.recovering"  # a recovery rung is being taken (for a fault, or an operator)
    RUNG_FAILED = "bot.rung-failed"  # the rung did not bring the bot back; the ladder climbs on
    RECOVERED = "bot.recovered"  # the rung worked: the routine resumes at resume_at
    GAVE_UP = "bot.gave-up"  # the failure budget is spent or no rung is left: the bot fails, its account returns
    ATTEMPT_FAILED = "bot.attempt-failed"  # one attempt of the routine failed (the restart policy decides)
    LOCK_LOST = "bot.lock-lost"  # the instance lock could not be renewed (fenced: no more input)
    PAUSED = "bot.paused"  # an operator paused the bot; a paused bot is not "making no progress"
    RESUMED = "bot.resumed"  # the bot resumed after a pause
    FINISHED = "bot.finished"  # the session ended, with its clocks (its BotStatus's, in seconds)
    INSTANCE_UNHEALTHY = "instance.unhealthy"  # a health check found problems (or a step's device fault)
    INSTANCE_HEALTHY = "instance.healthy"  # a health check found none again
    ACCOUNT_LEASED = "account.leased"  # an account was leased for the bot
    ACCOUNT_RETURNED = "account.returned"  # a leased account went back to its pool unfinished
    ACCOUNT_COMPLETED = "account.completed"  # the routine completed the account
    ACCOUNT_FAILED = "account.failed"  # the routine failed the account
    NOTIFY = "bot.notify"  # a routine's Notify step (sent with the bot's frame when a webhook is set)


_HEALTH = ("check", "detail", "capture_p50_ms", "capture_p95_ms", "foreground")
_ACCOUNT = ("pool", "reason")
#: The payload keys each kind carries (a key may be ``None``); ``m.*`` stands for the metrics keys. An event with
#: another key is refused when it is built (``TypeError``): the code cannot send what this does not say.
PAYLOADS: dict[EventKind, frozenset[str]] = {kind: frozenset(keys) for kind, keys in {
    EventKind.STARTED: ("routine", "instance_settings"),
    EventKind.STEP_COMPLETED: ("step", "steps_done"),
    EventKind.HEARTBEAT: ("state", "steps_done", "capture_p50_ms", "capture_p95_ms", "m.*"),
    EventKind.STUCK: ("reason", "step", "message", "idle_s", "stuck_after_s", "window"),
    EventKind.RECOVERING: ("rung", "fault", "reason", "failures"),
    EventKind.RUNG_FAILED: ("rung", "error", "reason"),
    EventKind.RECOVERED: ("rung", "fault", "reason", "resume_at"),
    EventKind.GAVE_UP: ("reason", "failures"),
    EventKind.ATTEMPT_FAILED: ("attempt", "error"),
    EventKind.LOCK_LOST: ("reason", "reacquired"),
    EventKind.PAUSED: ("step",),
    EventKind.RESUMED: ("step",),
    EventKind.FINISHED: ("state", "reason", "steps_done", "wall_s", "step_s", "engine_s"),
    EventKind.INSTANCE_UNHEALTHY: (*_HEALTH, "step"),
    EventKind.INSTANCE_HEALTHY: _HEALTH,
    EventKind.ACCOUNT_LEASED: _ACCOUNT,
    EventKind.ACCOUNT_RETURNED: _ACCOUNT,
    EventKind.ACCOUNT_COMPLETED: _ACCOUNT,
    EventKind.ACCOUNT_FAILED: _ACCOUNT,
    EventKind.NOTIFY: ("message", "screenshot"),
}.items()}
_RUNGS = ("routine", "restart_app", "restart_instance", "reconnect")
#: The keys whose values are a closed set, and the set (``None`` is always allowed: not known).
VALUES: dict[tuple[EventKind, str], frozenset[str]] = {key: frozenset(values) for key, values in {
    (EventKind.STUCK, "reason"): ("stuck", "click_loop", "step_timeout"),
    (EventKind.RECOVERING, "reason"): ("fault", "operator"),
    (EventKind.RECOVERING, "rung"): _RUNGS,
    (EventKind.RUNG_FAILED, "reason"): ("fault", "operator"),
    (EventKind.RUNG_FAILED, "rung"): _RUNGS,
    (EventKind.RECOVERED, "reason"): ("fault", "operator"),
    (EventKind.RECOVERED, "rung"): (*_RUNGS, "reacquire_lock"),
    (EventKind.FINISHED, "state"): ("completed", "stopped", "failed"),
}.items()}


#: Every kind, in declaration order (the strings, without the ``emufleet.`` prefix).
EVENT_KINDS: tuple[str, ...] = tuple(kind.value for kind in EventKind)


@dataclass(frozen=True, slots=True)
class BotRef:
    """Which bot an event is about: group name, bot index, instance (host + serial), flow run and current account.

    ``flow_run_id`` is the bot's Prefect flow run (a UUID string; ``None`` outside Prefect, e.g. ``routines run``);
    ``account`` the device account currently leased (``None`` between accounts). Use :meth:`with_account` as the
    lease changes.
    """

    group: str
    bot: int
    instance: InstanceId
    flow_run_id: str | None = None
    account: str | None = None

    def with_account(self, account: str | None) -> BotRef:
        """This reference with another current account."""
        return dataclasses.replace(self, account=account)


def _flat(payload: Mapping[str, object]) -> Payload:
    """A copy of ``payload`` with numbers made plain (numpy scalars → int/float, NaN/inf → ``None``: JSON has
    neither and a latency figure must not fail the bot); raises ``TypeError`` for a non-string key or a value that
    is not flat."""
    out: Payload = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise TypeError(f"event payload key {key!r} is not a string")
        if value is None or isinstance(value, str | bool):
            out[key] = value
        elif isinstance(value, numbers.Integral):
            out[key] = int(value)
        elif isinstance(value, numbers.Real):
            number = float(value)
            out[key] = number if math.isfinite(number) else None
        else:
            raise TypeError(f"event payload {key!r}: {type(value).__name__} is not str, int, float, bool or None")
    return out


def _declared(kind: EventKind, payload: Payload) -> None:
    """Raise ``TypeError`` for a key :data:`PAYLOADS` does not declare for ``kind``, or a value outside
    :data:`VALUES`."""
    keys = PAYLOADS[kind]
    for key, value in payload.items():
        if key not in keys and not ("m.*" in keys and key.startswith("m.")):
            raise TypeError(f"{kind} events carry no {key!r} (emufleet.bot.events.PAYLOADS)")
        allowed = VALUES.get((kind, key))
        if allowed is not None and value is not None and value not in allowed:
            raise TypeError(f"{kind} {key}={value!r} is not one of {sorted(allowed)} (emufleet.bot.events.VALUES)")


@dataclass(frozen=True, slots=True)
class BotEvent:
    """Something that happened to one bot (see :class:`EventKind` for the kinds, :data:`PAYLOADS` for their keys).

    ``time`` is ``time.time()`` (s since the epoch) when it happened. Raises ``ValueError`` for an unknown kind and
    ``TypeError`` for a payload value that is not flat (see the module docstring), a key the kind does not declare
    or a value outside its closed set (:data:`VALUES`).
    """

    kind: EventKind
    bot: BotRef
    payload: Payload = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))  # a plain "bot.stuck" string is accepted
        object.__setattr__(self, "payload", _flat(self.payload))  # a private copy: the caller's dict may change
        _declared(self.kind, self.payload)

    @property
    def name(self) -> str:
        """The Prefect event name, ``"emufleet." + kind``."""
        return f"emufleet.{self.kind.value}"
