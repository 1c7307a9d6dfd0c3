"""Handled errors in Prefect's run logs: one line at the level they deserve, never a traceback (issue 23 item 9).

Prefect logs every task or flow run that ends by an exception at ERROR with its full traceback
(``Task run failed with exception: …`` then ``Finished in state Failed(…)``). For emufleet's own errors
(:class:`~emufleet.errors.EmufleetError`: a device that went away, a template not found, a routine refused) that is
noise: the error is expected, its message says what happened, and the caller handles it. A routine step's failure is
handled by the bot (its recovery ladder, its failure budget), so both lines of a step task become one WARNING line
each; any other emufleet error keeps its level but loses the traceback. Anything else (a bug) is left untouched:
ERROR with the traceback. The run's state is unchanged (a failed step still shows *Failed* in the UI).

:func:`install` adds the filter to Prefect's ``prefect.task_runs`` and ``prefect.flow_runs`` loggers (idempotent).
"""

from __future__ import annotations

import logging
import threading

from emufleet.errors import EmufleetError

__all__ = ["STEP_TASK", "HandledErrors", "install"]

STEP_TASK = "step"
"""The name of the routine-step task (:func:`tasks.steps.run_step`): its errors are the bot's to handle."""
_LOGGERS = ("prefect.task_runs", "prefect.flow_runs")


class HandledErrors(logging.Filter):
    """Rewrites Prefect's records of runs that ended by an :class:`EmufleetError` (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self._steps: set[str] = set()  # task run ids of steps that failed by an emufleet error, until "Finished"
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        step = getattr(record, "task_name", None) == STEP_TASK
        run_id = str(getattr(record, "task_run_id", ""))
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, EmufleetError):
            record.exc_info, record.exc_text = None, None  # the message already names the error
            if step:
                with self._lock:
                    self._steps.add(run_id)
                _lower(record)
        elif step and error is None:  # "Finished in state Failed(…)" of a step that failed as above
            with self._lock:
                handled = run_id in self._steps
                self._steps.discard(run_id)
            if handled:
                _lower(record)
        return True


def _lower(record: logging.LogRecord) -> None:
    record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)


_FILTER = HandledErrors()


def install() -> HandledErrors:
    """Add the filter to Prefect's run loggers (once; later calls do nothing); returns it."""
    for name in _LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # addFilter ignores a filter already present
    return _FILTER
