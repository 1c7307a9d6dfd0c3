"""The step debugger (issue 19 item 3): run a routine on one device, pause at breakpoints, step over / into / out,
continue, stop; at each pause the variables, why the previous step's template checks matched or not, and the frame
with its overlay (docs/studio.md "Step debugger").

* :class:`Breakpoint`, :class:`Pause`, :class:`StepResult`, :class:`Stepper`: where to pause and the pausing itself;
* :class:`DebugSession`: one debugged run (the routine in its own thread).

The engine part only: the instance's lock is taken by the caller (``emufleet routines debug``, the console), as a
bot takes it (:mod:`adapters.debugging`).
"""

from emufleet.debug.session import DebugSession, Outcome
from emufleet.debug.stepper import COMMANDS, Breakpoint, Pause, Stepper, StepResult, verdict

__all__ = ["COMMANDS", "Breakpoint", "DebugSession", "Outcome", "Pause", "StepResult", "Stepper", "verdict"]
