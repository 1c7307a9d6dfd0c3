"""What a routine keeps while it runs stays bounded however long it runs (a fleet runs unattended for hours)."""

from __future__ import annotations

import pytest

from emufleet.errors import RoutineStopped
from emufleet.routines import executor as executor_module
from emufleet.routines.executor import Executor
from emufleet.routines.grammar.routine import SentrySpec
from emufleet.routines.sentries import OUTCOMES_KEPT, SentryManager, _Entry

from .conftest import Bot


def test_a_long_polling_step_keeps_only_its_newest_match_scores(bot: Bot) -> None:
    """A ``WaitForImage`` polling for an hour recorded every poll's score in its step frame (50 ms polls: 72,000
    scores per hour per bot); only the newest are kept (they are what the step event and the evidence show)."""
    bot.write("main", "steps:\n  - {action: WaitForImage, template: Error, timeout: 600}\n")
    polls, longest = 0, 0
    ex: Executor | None = None

    def on_match(_seconds: float, _found: bool) -> None:
        nonlocal polls, longest
        polls += 1
        assert ex is not None
        longest = max(longest, len(ex._stack[-1].scores))  # noqa: SLF001 - the frame is what must stay bounded
        if polls >= 1000:
            bot.controller.stop()

    ctx = bot.context(on_match=on_match, wait_poll_s=0.0)  # poll as fast as possible: thousands of polls a second
    routine = ctx.registry.get("main")
    ex = Executor(ctx, routine)
    with pytest.raises(RoutineStopped):
        ex.run_step(routine.steps[0], "steps[0]")
    assert polls >= 1000
    assert longest <= 2 * executor_module._MAX_SCORES  # noqa: SLF001
    assert bot.events[-1].scores and len(bot.events[-1].scores) <= executor_module._MAX_SCORES  # noqa: SLF001


def test_sentry_outcomes_are_a_bounded_history(bot: Bot) -> None:
    """A sentry runs every few seconds for as long as its bot does: 10,000 outcomes keep the last
    :data:`OUTCOMES_KEPT`, oldest first."""
    sentries = SentryManager(bot.context())
    entry = _Entry(SentrySpec(routine="sentries/popup", on_success="resume"), 1.0)
    for i in range(10_000):
        sentries._apply(entry, None if i % 2 else f"miss {i}")  # noqa: SLF001 - one sentry run's bookkeeping
    assert len(sentries.outcomes) == OUTCOMES_KEPT
    assert sentries.outcomes[0].error == f"miss {10_000 - OUTCOMES_KEPT}"
    assert sentries.outcomes[-1].success and sentries.outcomes[-1].action == "resume"
