"""The resource thresholds of one host (``hosts/<name>.yaml`` ``resources:``; seed 003 "Resource Manager", whose
throttle threshold is 90 %)::

    resources:
      max_cpu_percent: 90          # a launch starts another bot only below these (host-wide, psutil)
      max_memory_percent: 90
      max_capture_ms: 2000         # the bots' median capture latency (their own screenshots) counts as load too
      wait_for_room_s: 60          # how long a launch waits for room before it sheds the remaining bots
      saturated_for_s: 3           # load above a threshold this long: degraded mode (captures slowed)
      recover_below_percent: 75    # CPU and memory under this (and captures under max_capture_ms) …
      recovered_for_s: 5           # … this long: back to normal
      degraded_capture_interval_s: 0.2   # in degraded mode, each bot captures at most once per this (5/s)
"""

from __future__ import annotations

import json
import os

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from emufleet.errors import InputError

__all__ = ["ENV", "ResourceSettings", "effective"]

#: A JSON object of :class:`ResourceSettings` fields under every host's own ``resources:`` (the test suite turns the
#: CPU check off with it, so that a busy CI machine does not shed the bots of tests about something else).
ENV = "EMUFLEET_RESOURCES"



class ResourceSettings(BaseModel):
    """When a host counts as saturated, how long a launch waits for room, and what degraded mode does.
    Percentages are of the whole host (all cores, all memory); a sample *over* a threshold counts (100 turns that
    check off); durations are seconds (``*_s``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_cpu_percent: float = Field(90.0, gt=0, le=100)
    max_memory_percent: float = Field(90.0, gt=0, le=100)
    max_capture_ms: float = Field(2000.0, gt=0, le=600_000)
    wait_for_room_s: float = Field(60.0, ge=0, le=3600, allow_inf_nan=False)
    saturated_for_s: float = Field(3.0, ge=0, le=3600, allow_inf_nan=False)
    recover_below_percent: float = Field(75.0, gt=0, le=100)
    recovered_for_s: float = Field(5.0, ge=0, le=3600, allow_inf_nan=False)
    degraded_capture_interval_s: float = Field(0.2, ge=0, le=60, allow_inf_nan=False)

    @model_validator(mode="after")
    def _hysteresis(self) -> ResourceSettings:
        if self.recover_below_percent > min(self.max_cpu_percent, self.max_memory_percent):
            raise ValueError("recover_below_percent must not exceed max_cpu_percent or max_memory_percent "
                             "(degraded mode would end while the host is still saturated)")
        return self


def effective(settings: ResourceSettings, explicit: set[str]) -> ResourceSettings:
    """``settings`` (a host file's) over :data:`ENV`: the fields the file set (``explicit``) win, the environment
    fills the others. Raises ``InputError`` when :data:`ENV` is not a JSON object of valid fields."""
    raw = os.environ.get(ENV)
    if not raw:
        return settings
    try:
        base = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InputError(f"{ENV}={raw!r}: not JSON ({exc})", field=ENV) from exc
    if not isinstance(base, dict):
        raise InputError(f"{ENV}={raw!r}: not a JSON object of resource fields", field=ENV)
    try:
        return ResourceSettings.model_validate({**base, **settings.model_dump(include=explicit)})
    except ValidationError as exc:
        raise InputError(f"{ENV}={raw!r}: {exc}", field=ENV) from exc
