"""The terminal views: plain change lines when piped, one-line log records instead of tracebacks."""

from __future__ import annotations

import io
import logging

from rich.console import Console

from emufleet.groups import BotState, BotStatus
from flows.progress import _ChangeLines, _OneLineHandler, _quiet_console_logs


def test_piped_progress_prints_one_line_per_bot_change() -> None:
    out = io.StringIO()
    lines = _ChangeLines(Console(file=out, width=80))
    bot = BotStatus(group="g", bot=1, instance="127.0.0.1:5555", state=BotState.RUNNING)
    lines.show([bot])
    lines.show([bot.model_copy(update={"steps_done": 3})])  # a step is not a change worth a line
    lines.show([bot.model_copy(update={"accounts_completed": 1, "account": "a@x"})])
    printed = out.getvalue().splitlines()
    assert len(printed) == 2
    assert printed[0].endswith("bot 1 local/127.0.0.1:5555: running account=- done=0 failed=0 restarts=0 steps=0")
    assert "account=a@x done=1" in printed[1]


def test_log_records_become_one_line_without_traceback() -> None:
    out = io.StringIO()
    handler = _OneLineHandler(Console(file=out, width=200))
    flows_logger, tasks_logger = logging.getLogger("prefect.flow_runs.t"), logging.getLogger("prefect.task_runs.t")
    for logger in (flows_logger, tasks_logger):
        logger.addHandler(handler)
        logger.propagate = False
    try:
        try:
            raise RuntimeError("boom\nsecond line")
        except RuntimeError:
            flows_logger.exception("bot 2 failed\nmore")
        tasks_logger.error("task noise: its bot reports the failure")
        flows_logger.info("info noise")
    finally:
        for logger in (flows_logger, tasks_logger):
            logger.removeHandler(handler)
            logger.propagate = True
    (line,) = out.getvalue().splitlines()
    assert line == "error bot 2 failed (RuntimeError: boom) (details in the Prefect UI)"


def test_prefect_console_handler_is_swapped_for_the_view_and_restored() -> None:
    from prefect.logging.handlers import PrefectConsoleHandler

    root = logging.getLogger()
    added = PrefectConsoleHandler()
    root.addHandler(added)
    try:
        with _quiet_console_logs(Console(file=io.StringIO())):
            assert added not in root.handlers and any(isinstance(h, _OneLineHandler) for h in root.handlers)
        assert added in root.handlers and not any(isinstance(h, _OneLineHandler) for h in root.handlers)
    finally:
        root.removeHandler(added)
