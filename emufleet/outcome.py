"""How a bot's work ended: one :class:`Outcome` for a step, an attempt, an account's lease and the bot.

The step runner says what a step did, the attempt runner what an attempt did, the recovery ladder what a recovery
did, the lease rules what became of an account; each uses the members that can happen to it (a step never gives
up, an account is never drained), so one event always has one name ("completed", never "succeeded").
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Outcome"]


class Outcome(StrEnum):
    """How something a bot did ended (values are the spellings in events, rows and logs)."""

    COMPLETED = "completed"  # done as asked: a step, an attempt (its routine ran to the end), an account
    FAILED = "failed"  # an error: the step's, the attempt's (the restart policy decides), the account's
    STOPPED = "stopped"  # stopped by an operator, a stop, or the routine itself (a sentry's graceful stop)
    DRAINED = "drained"  # InjectNextAccount found the pools dry: the bot has nothing left to do
    UNAVAILABLE = "unavailable"  # a step could not be started (the orchestrator is unreachable): retried
    RETURNED = "returned"  # an account went back to its pool unfinished
    RESUMED = "resumed"  # a recovery brought the bot back: the attempt goes on
    GAVE_UP = "gave_up"  # the failure budget is spent or no rung is left
    LOCK_TAKEN = "lock_taken"  # another run holds the instance: the bot ends stopped
