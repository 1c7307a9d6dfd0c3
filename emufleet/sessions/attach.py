"""Attaching a recording to a bot session without changing it: its device factory and its step hook, wrapped.

:class:`BotRecording` gives a :class:`~emufleet.bot.BotSession` a ``connect`` that wraps the bot's device in a
:class:`~emufleet.sessions.recording.RecordingDevice` and an ``on_step`` that tells the recording which step runs::

    recording = BotRecording(writer.add)
    session = BotSession(spec, assets, ..., connect=recording.connect(spec.instance.serial, spec.connect_timeout_s),
                         on_step=recording.on_step(print_event))
"""

from __future__ import annotations

from collections.abc import Callable

from emufleet.device.interface import RecoverableDevice
from emufleet.routines.context import StepEvent
from emufleet.sessions.recording import Entry, RecordingDevice, StepTracker

__all__ = ["BotRecording"]


class BotRecording:
    """One bot's recording into ``sink`` (a :class:`~emufleet.sessions.recording.SessionWriter`'s ``add``, a flight
    recorder's ring, the live wall's feed): the device wrapper and the step tracker (``steps``: share one)."""

    def __init__(self, sink: Callable[[Entry], None], steps: StepTracker | None = None) -> None:
        self.sink = sink
        self.steps = steps or StepTracker()
        self.device: RecordingDevice | None = None

    def wrap(self, device: RecoverableDevice) -> RecordingDevice:
        """``device`` recorded (the wrapper implements the device's interface and passes the rest through)."""
        self.device = RecordingDevice(device, self.sink, self.steps)
        return self.device  # RecordingDevice forwards the recovery calls (reconnect, wait_ready, reboot)

    def connect(self, serial: str, timeout_s: float,
                connect: Callable[[], RecoverableDevice] | None = None) -> Callable[[], RecoverableDevice]:
        """A ``connect`` for the bot session: ``connect()`` (default: ADB to ``serial``), recorded."""
        def made() -> RecoverableDevice:
            from emufleet.device import connect as adb_connect

            return self.wrap(connect() if connect is not None else adb_connect(serial, timeout_s=timeout_s))
        return made

    def on_step(self, then: Callable[[StepEvent], None] | None = None) -> Callable[[StepEvent], None]:
        """An ``on_step`` hook feeding the step tracker, then ``then``."""
        def hook(event: StepEvent) -> None:
            self.steps.on_step(event)
            if then is not None:
                then(event)
        return hook
