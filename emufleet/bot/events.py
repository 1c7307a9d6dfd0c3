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

__all__ = ["EVENT_KINDS", "BotEvent", "BotRef", "EventKind", "Payload", "PayloadValue"]

PayloadValue: TypeAlias = str | int | float | bool | None
Payload: TypeAlias = dict[str, PayloadValue]


class EventKind(StrEnum):
    """The kinds of bot event; the Prefect event name is ``"emufleet." + kind``.

    Payload keys named here are the ones the shipped automations and docs rely on; more may be added.
    """

    #: The bot's session began driving its instance (after connect/ready). Payload: ``routine``, ``attempt``.
    STARTED = "bot.started"
    #: A top-level step finished, **sampled** (at most one every few tens of seconds: enough for the "no step for
    #: 10 minutes" automation, without one event per step). Payload: ``step``, ``steps_done``.
    STEP_COMPLETED = "bot.step-completed"
    #: Periodic liveness of the bot's supervisor with its figures, e.g. ``state``, ``steps_done``,
    #: ``capture_p50_ms``, ``capture_p95_ms``, and its cumulative metrics ``m.*`` (:mod:`emufleet.bot.metrics`:
    #: what the console's ``/metrics`` shows). Zombie runs are detected from Prefect's own
    #: flow-run heartbeats, not from these (docs/supervision.md, "Notifications").
    HEARTBEAT = "bot.heartbeat"
    #: Stuck detection fired: no step and no input for ``stuck_after``, or a click loop. Payload: ``reason``
    #: (``"no-progress"`` | ``"click-loop"``), ``step``, ``idle_s``.
    STUCK = "bot.stuck"
    #: A recovery rung is being taken. Payload: ``rung`` (``"routine"`` | ``"restart_app"`` | ``"restart_instance"``
    #: | ``"reconnect"``), ``fault`` (what triggered it: a fault kind, or ``"operator"``), ``reason`` (``"fault"`` |
    #: ``"operator"``: an operator asked for the rung), ``failures`` (in the budget window).
    RECOVERING = "bot.recovering"
    #: A rung was taken but the bot is still unhealthy; the ladder climbs on. Payload: ``rung``, ``error``,
    #: ``reason``.
    RUNG_FAILED = "bot.rung-failed"
    #: The rung worked: the routine resumes. Payload: ``rung``, ``fault``, ``reason``, ``resume_at`` (step or
    #: ``None``).
    RECOVERED = "bot.recovered"
    #: The failure budget is spent or the last rung failed: the bot fails, its account returns. Payload:
    #: ``reason``, ``failures``.
    GAVE_UP = "bot.gave-up"
    #: One attempt of the routine failed (the restart policy decides what comes next). Payload: ``attempt``,
    #: ``error``, ``error_type``.
    ATTEMPT_FAILED = "bot.attempt-failed"
    #: The bot's instance lock could not be renewed (fenced: no more input). Payload: ``reason``, ``reacquired``.
    LOCK_LOST = "bot.lock-lost"
    #: The bot was paused (an operator's command); a paused bot is not "making no progress".
    PAUSED = "bot.paused"
    #: The bot resumed after a pause.
    RESUMED = "bot.resumed"
    #: The bot's session ended. Payload: ``state`` (``"completed"`` | ``"stopped"`` | ``"failed"``), ``reason``,
    #: ``steps_done``, and the session's clocks in seconds (:class:`~emufleet.bot.spec.BotResult`'s): ``wall_s``,
    #: ``step_s`` (around the step calls), ``engine_s`` (inside the engine during them).
    FINISHED = "bot.finished"
    #: A health check changed to unhealthy. Payload: ``check`` (``"adb"`` | ``"boot"`` | ``"foreground"`` |
    #: ``"frozen"`` | ``"latency"``), ``detail``.
    INSTANCE_UNHEALTHY = "instance.unhealthy"
    #: A health check is healthy again. Payload: ``check``.
    INSTANCE_HEALTHY = "instance.healthy"
    #: An account was leased for the bot. Payload: ``pool``, ``lease_ttl_s``.
    ACCOUNT_LEASED = "account.leased"
    #: A leased account went back to its pool unfinished (stop, recovery give-up). Payload: ``pool``, ``reason``.
    ACCOUNT_RETURNED = "account.returned"
    #: The routine completed the account. Payload: ``pool``.
    ACCOUNT_COMPLETED = "account.completed"
    #: The routine failed the account. Payload: ``pool``, ``reason``.
    ACCOUNT_FAILED = "account.failed"


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
    serial: str
    host: str = "local"
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


@dataclass(frozen=True, slots=True)
class BotEvent:
    """Something that happened to one bot (see :class:`EventKind` for the kinds and their payload keys).

    ``time`` is ``time.time()`` (s since the epoch) when it happened. Raises ``ValueError`` for an unknown kind and
    ``TypeError`` for a payload value that is not flat (see the module docstring).
    """

    kind: EventKind
    bot: BotRef
    payload: Payload = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", EventKind(self.kind))  # a plain "bot.stuck" string is accepted
        object.__setattr__(self, "payload", _flat(self.payload))  # a private copy: the caller's dict may change

    @property
    def name(self) -> str:
        """The Prefect event name, ``"emufleet." + kind``."""
        return f"emufleet.{self.kind.value}"
