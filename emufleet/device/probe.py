"""A quick health probe of an instance: reachable over ADB, Android booted, a screen that is not black.

What a launch asks of a quarantined instance whose cool-down has passed before it uses it again
(:func:`emufleet.farm.admit`). It never raises: the answer is ``None`` (healthy) or what is wrong.
"""

from __future__ import annotations

import numpy as np

from emufleet.errors import EmufleetError

__all__ = ["probe_instance"]

BLACK_MEAN = 4.0  # mean pixel value under which a frame counts as black (a device still booting, a dead GPU)


def probe_instance(serial: str, timeout_s: float = 10.0) -> str | None:
    """``None`` when ``serial`` answers, has booted and shows a non-black screen; else what failed."""
    from emufleet.device import connect

    try:
        device = connect(serial, timeout_s=timeout_s)
        if device.getprop("sys.boot_completed").strip() != "1":
            return "Android has not finished booting"
        frame = device.screenshot(allow_black=True)
    except EmufleetError as exc:
        return f"{type(exc).__name__}: {exc}"
    if float(np.mean(frame)) < BLACK_MEAN:
        return "the screen is black"
    return None
