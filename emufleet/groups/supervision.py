"""The supervision sections of a group definition: ``health:`` (:class:`HealthSettings`) and ``recovery:``
(:class:`RecoverySettings`, the ladder's :class:`Rung` s); docs/supervision.md says what each key does.

They are settings, not behaviour: the bot (:mod:`emufleet.bot.health`, :mod:`emufleet.bot.recovery`) acts on them,
and lives above the group definition in the engine's package order, so the models live here.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from emufleet.durations import DurationS, DurationS0

__all__ = ["ClickLoopSettings", "FailureBudgetSettings", "HealthSettings", "RecoverySettings", "Rung"]


class HealthSettings(BaseModel):
    """Health-check settings of a bot (the group's ``health:`` section).

    Durations (``interval``, ``heartbeat``, ``frozen_min_s``, ``probe_timeout_s``) accept ``10s``, ``500ms``, ``2m``
    or a bare number of seconds and are seconds once parsed; ``latency_warn_ms`` is a number of milliseconds.
    Strict: unknown keys, and strings where numbers belong, are errors.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    interval: DurationS = Field(default=10.0, gt=0, description="seconds between checks")
    heartbeat: DurationS = Field(default=10.0, gt=0, description="seconds between bot.heartbeat events")
    frozen_captures: int = Field(default=5, ge=2, description="identical captures while waiting = frozen")
    frozen_min_s: DurationS0 = Field(default=3.0, ge=0, description="the identical captures span this long")
    latency_warn_ms: float = Field(default=400.0, gt=0, description="median capture latency that warns")
    latency_window: int = Field(default=30, ge=1, description="captures kept for the latency percentiles")
    latency_min_samples: int = Field(default=3, ge=1, description="captures needed before slow_capture")
    capture_failures: int = Field(default=3, ge=1, description="consecutive failed captures = capture_failing")
    package: str | None = Field(default=None, description="the game's package; None: no foreground check")
    probe_timeout_s: DurationS = Field(default=5.0, gt=0, description="timeout of each device probe")


class Rung(StrEnum):
    ROUTINE = "routine"
    RESTART_APP = "restart_app"
    RESTART_INSTANCE = "restart_instance"
    RECONNECT = "reconnect"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailureBudgetSettings(_Strict):
    """Give up after ``failures`` faults or failed attempts within ``window`` seconds (digest §9.7: 3 in 10 min)."""

    failures: int = Field(default=3, ge=1, le=1000)
    window: DurationS = Field(default=600.0, gt=0, le=7 * 86400)


class ClickLoopSettings(_Strict):
    """A click loop: of the last ``window`` taps, one target ``single`` times or two targets ``pair`` times each."""

    window: int = Field(default=15, ge=2, le=1000)
    single: int = Field(default=12, ge=2, le=1000)
    pair: int = Field(default=6, ge=2, le=1000)
    radius_px: int = Field(default=8, ge=0, le=1000)

    @model_validator(mode="after")
    def _fits(self) -> ClickLoopSettings:
        if self.single > self.window or 2 * self.pair > self.window:
            raise ValueError(f"single ({self.single}) and 2·pair ({2 * self.pair}) must fit in window ({self.window})")
        return self


class RecoverySettings(_Strict):
    """The ``recovery:`` section of a group definition (every key optional; docs/supervision.md)."""

    enabled: bool = True
    rungs: tuple[Rung, ...] = Field(default=tuple(Rung), min_length=1)
    routine: str | None = "recovery/go_home"  # rung 1; a routine registry key (None: skip the rung)
    routine_timeout: DurationS = Field(default=60.0, gt=0, le=3600)
    stuck_after: DurationS = Field(default=60.0, gt=0, le=86400)  # per-step override: a step's stuck_after
    click_loop: ClickLoopSettings = ClickLoopSettings()
    budget: FailureBudgetSettings = FailureBudgetSettings()
    ready_timeout: DurationS = Field(default=120.0, gt=0, le=3600)  # after restart_instance / reconnect
    evidence_frames: int = Field(default=3, ge=0, le=50)  # frames kept for the failure evidence
    evidence_max_dumps: int = Field(default=20, ge=0, le=1000)  # per bot run
