"""A group's ``quarantine:`` block: the knobs of the farm's quarantine rule (:mod:`emufleet.farm.quarantine`).

In a group file (every key optional; docs/farm.md, "Quarantine")::

    quarantine: {window: 1h, factor: 3, min_count: 3, give_up_weight: 3, cooldown: 15m, account_instances: 3}
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from emufleet.durations import DurationS0

__all__ = ["QuarantineSettings"]


class QuarantineSettings(BaseModel):
    """The quarantine rule's knobs (durations in seconds once parsed; YAML takes ``15m``, ``1h``…)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: DurationS0 = Field(3600.0, gt=0, le=7 * 86400,
                                                                description="sliding window of faults, s")
    factor: float = Field(3.0, ge=1.0, le=1000.0, description="× the other instances' median")
    min_count: int = Field(3, ge=1, le=10**6, description="faults needed at the least")
    give_up_weight: int = Field(3, ge=1, le=100, description="a give-up counts as this many faults")
    cooldown: DurationS0 = Field(
        900.0, ge=0, le=7 * 86400, description="before a health check may release an instance, s")
    account_instances: int = Field(3, ge=2, le=1000, description="distinct instances an account may fail on")
