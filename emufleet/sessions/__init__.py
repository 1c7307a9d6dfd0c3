"""Sessions: a device's frames and inputs recorded as a folder, replayed offline (docs/sessions.md).

* :class:`RecordingDevice` + :class:`SessionWriter`: record while a routine (or a bot) drives a device;
* :class:`Session`: read one (format version :data:`FORMAT_VERSION`);
* :class:`ReplayDevice`: serve one through the device interface; :func:`replay`: run a routine against one and
  report the first divergence (:class:`ReplayReport`); :func:`assert_replays`: the same in a pytest suite.
"""

from emufleet.sessions.check import FailedStep, ReplayReport, replay
from emufleet.sessions.format import FORMAT_VERSION, Session, StepRef
from emufleet.sessions.recording import Entry, RecordingDevice, SessionWriter, StepTracker
from emufleet.sessions.replay import Divergence, ReplayClock, ReplayDevice
from emufleet.sessions.testing import assert_replays

__all__ = ["Divergence", "Entry", "FORMAT_VERSION", "FailedStep", "RecordingDevice", "ReplayClock", "ReplayDevice",
           "ReplayReport", "Session", "SessionWriter", "StepRef", "StepTracker", "assert_replays", "replay"]
