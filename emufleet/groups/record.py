"""The group's ``record:`` section (:class:`RecordSettings`): each bot's flight recorder
(:mod:`emufleet.sessions.flight`, docs/sessions.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emufleet.durations import DurationS

__all__ = ["RecordSettings"]


class RecordSettings(BaseModel):
    """The group's ``record:`` section: the flight recorder of each bot (:mod:`emufleet.sessions.flight`).

    ``seconds`` accepts ``120s``, ``2m`` or a number of seconds; ``max_frames`` bounds the distinct frames kept
    (≈ 1.5 MB each at 540×960); ``max_sessions`` the sessions one bot run writes (a bot failing all night cannot
    fill the disk). ``enabled: false`` keeps no ring at all.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    enabled: bool = True
    seconds: DurationS = Field(default=120.0, gt=0, le=3600, description="history kept, in seconds")
    max_frames: int = Field(default=60, ge=1, le=5000, description="distinct frames kept at most")
    max_sessions: int = Field(default=10, ge=0, le=1000, description="sessions one bot run writes at most")
