"""Durations in every user-edited file (routines, groups, pools, CLI options): one parser, three field types.

Every duration accepts ``500ms``, ``1.5s``, ``2m`` or ``1h``; a bare number (``2000``, ``"2000"``) is in the unit
of its field: routines keep the seed's (digest §1.5: ``Sleep.duration`` ms, ``WaitForImage.timeout`` s, sentry
``frequency`` s, …, listed in ``docs/routines.md``), so existing routines load unchanged; group and pool files use
seconds. Parsed values are **seconds** (float), never more than :data:`MAX_DURATION_S`.

* :data:`DurationMs`: a bare number is milliseconds; > 0.
* :data:`DurationS`: a bare number is seconds; > 0.
* :data:`DurationS0`: a bare number is seconds; ≥ 0 (a stagger, a cooldown, a margin).
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator

from emufleet.errors import InputError

__all__ = ["MAX_DURATION_S", "BareUnit", "DurationMs", "DurationS", "DurationS0", "parse_duration"]

MAX_DURATION_S = 30 * 86400.0
"""The longest duration any file may give (30 days): larger values (``1e300``, ``.inf``) are refused at load,
not left to overflow a sleep, a lease expiry or a timestamp later."""

BareUnit = Literal["ms", "s"]
_FACTORS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


def parse_duration(value: Any, bare_unit: BareUnit, *, allow_zero: bool = False) -> float:
    """Parse a duration into seconds (> 0, or ≥ 0 with ``allow_zero``).

    Args:
        value: an int/float (in ``bare_unit``) or a string ``"<number>[ms|s|m|h]"``.
        bare_unit: the unit of a number written without one.
        allow_zero: accept 0 (a group's stagger delay), still refusing negatives.

    Raises:
        InputError: not a duration, not strictly positive (negative with ``allow_zero``), not finite, or longer
            than :data:`MAX_DURATION_S` (a ``ValueError``: inside a pydantic field it becomes a located error).
    """
    if isinstance(value, bool):
        raise InputError(f"expected a duration such as 500ms, 30s or 2m, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value) * _FACTORS[bare_unit]
    elif isinstance(value, str) and (m := _PATTERN.match(value)):
        seconds = float(m.group(1)) * _FACTORS[m.group(2) or bare_unit]
    else:
        raise InputError(f"expected a duration such as 500ms, 30s or 2m, got {value!r}")
    if math.isnan(seconds) or seconds > MAX_DURATION_S:
        raise InputError(f"a duration cannot exceed 30 days ({MAX_DURATION_S:.0f} s), got {value!r:.40}")
    if allow_zero and seconds < 0:
        raise InputError("a duration cannot be negative")
    if not allow_zero and not seconds > 0:
        raise InputError("a duration must be greater than 0")
    return seconds


def _ms(value: Any) -> float:
    return parse_duration(value, "ms")


def _s(value: Any) -> float:
    return parse_duration(value, "s")


def _s0(value: Any) -> float:
    return parse_duration(value, "s", allow_zero=True)


#: A duration whose bare number is milliseconds; the parsed value is seconds.
DurationMs = Annotated[float, BeforeValidator(_ms)]
#: A duration whose bare number is seconds; the parsed value is seconds.
DurationS = Annotated[float, BeforeValidator(_s)]
#: A duration that may be 0, whose bare number is seconds; the parsed value is seconds.
DurationS0 = Annotated[float, BeforeValidator(_s0)]
