"""Pause, resume, stop, step timeouts and sentries. No timed assertions: bounds are generous, latency is printed."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from emufleet.errors import RoutineStopped, StepTimeoutError
from emufleet.routines import Controller, RoutineRun

from .conftest import Bot


def start(bot: Bot, text: str, key: str = "main", **kwargs: Any) -> tuple[threading.Thread, list[BaseException], Any]:
    bot.write(key, text)
    ctx = bot.context(**kwargs)
    assert not ctx.registry.invalid(), ctx.registry.invalid()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            RoutineRun(ctx.registry.get(key), ctx).run()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, errors, ctx


def wait_for(predicate: Any, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def started(bot: Bot, action: str) -> bool:
    return any(e.kind == "started" and e.action == action for e in bot.events)


@pytest.mark.parametrize("step", [
    "{action: Sleep, duration: 60s}",
    "{action: WaitForImage, template: Error, timeout: 60}",
    "{action: WhileImageFound, template: Error, actions: [{action: Sleep, duration: 1}]}",
    "{action: Repeat, iterations: 100000, actions: [{action: Delay, count: 10}]}",
])
def test_stop_reaches_a_running_wait(bot: Bot, step: str) -> None:
    bot.device.visible = {"Error"} if "While" in step else set()
    thread, errors, _ = start(bot, f"steps:\n  - {step}\n  - {{action: Click}}\n")
    wait_for(lambda: started(bot, "Sleep") or started(bot, "WaitForImage") or started(bot, "Delay"))
    time.sleep(0.05)
    t0 = time.perf_counter()
    bot.controller.stop()
    thread.join(10)
    latency_ms = (time.perf_counter() - t0) * 1000
    print(f"stop latency {step.split(',')[0]}: {latency_ms:.1f} ms")
    assert not thread.is_alive()
    assert isinstance(errors[0], RoutineStopped)
    assert bot.device.taps == []  # the step observed the stop: nothing ran after it
    assert bot.events[-1].kind == "failed" and "stopped" in (bot.events[-1].error or "")


def test_pause_blocks_a_sleep_and_resume_continues_it(bot: Bot) -> None:
    thread, errors, _ = start(bot, "steps:\n  - {action: Sleep, duration: 400ms}\n  - {action: Click}\n")
    wait_for(lambda: started(bot, "Sleep"))
    t0 = time.perf_counter()
    bot.controller.pause()
    time.sleep(0.8)  # longer than the whole sleep: a paused sleep must not finish
    assert thread.is_alive() and bot.device.taps == []
    bot.controller.resume()
    thread.join(10)
    print(f"paused sleep of 400 ms took {(time.perf_counter() - t0) * 1000:.0f} ms with 800 ms of pause")
    assert not errors and len(bot.device.taps) == 1


def test_graceful_stop_finishes_the_running_step() -> None:
    controller = Controller()
    controller.stop(force=False)
    controller.sleep(0.01)  # a graceful stop lets the running wait finish …
    with pytest.raises(RoutineStopped):
        controller.checkpoint(boundary=True)  # … and stops at the next step boundary
    controller.stop()
    with pytest.raises(RoutineStopped):
        controller.sleep(0.01)


def test_step_timeout_really_stops_the_step(bot: Bot) -> None:
    thread, errors, _ = start(bot, """
steps:
  - action: Repeat
    step_timeout: 300ms
    iterations: 1000
    actions:
      - {action: Click}
      - {action: Sleep, duration: 50}
  - {action: Click, x: 200, y: 200}
""")
    thread.join(10)
    assert isinstance(errors[0], StepTimeoutError)
    assert "Repeat timed out after 300 ms" in str(errors[0]) and "main.yaml:3" in str(errors[0])
    taps = len(bot.device.taps)
    assert 0 < taps < 1000
    time.sleep(0.3)
    assert len(bot.device.taps) == taps  # no abandoned thread keeps clicking (§11.2 item 3)


def test_seed_top_level_timeout_is_ms_and_wait_timeout_is_s(bot: Bot) -> None:
    thread, errors, _ = start(bot, "steps:\n  - {action: Sleep, duration: 10s, timeout: 200}\n")
    thread.join(10)
    assert isinstance(errors[0], StepTimeoutError)
    thread, errors, _ = start(bot, "steps:\n  - {action: WaitForImage, template: OK, timeout: 1, step_timeout: 5s}\n",
                              key="wait")
    thread.join(10)
    assert "not found within 1 s" in str(errors[0]) and not isinstance(errors[0], StepTimeoutError)


def test_sentry_halts_and_resumes_the_main_routine(bot: Bot) -> None:
    bot.device.visible = {"Error"}
    bot.write("sentries/popup", """
steps:
  - action: IfImageFound
    template: Error
    actions:
      - {action: SentryHalt}
      - {action: SetVariable, name: halted, value: "yes"}
      - {action: Sleep, duration: 600ms}
      - {action: ClickIfImageFound, template: Error}
      - {action: SentryResume}
""")

    def tap(dev: Any, x: int, y: int) -> None:
        if (x, y) == dev.device_center("Error"):
            dev.visible.discard("Error")

    bot.device.on_tap = tap
    thread, errors, ctx = start(bot, """
sentries:
  - {routine: sentries/popup, frequency: 1s, severity: high}
steps:
  - action: Repeat
    iterations: 30
    actions:
      - {action: Increment, name: ticks}
      - {action: Sleep, duration: 100ms}
""")
    wait_for(lambda: "halted" in ctx.variables)
    paused_ticks = ctx.variables.get("ticks")
    time.sleep(0.3)
    assert ctx.controller.paused and ctx.variables.get("ticks") == paused_ticks  # the main routine is halted
    thread.join(20)
    assert not errors, errors
    assert ctx.variables.get("ticks") == "30"
    outcomes = ctx.sentries.outcomes
    assert outcomes and outcomes[0].success and outcomes[0].action == "resume"
    sentry_events = [e for e in bot.events if e.sentry == "sentries/popup"]
    assert sentry_events and all(e.routine == "sentries/popup" for e in sentry_events)
    assert ctx.sentries.active() == []


@pytest.mark.parametrize(("on_failure", "expect_stop"), [("force_stop", True), ("stop", True), ("resume", False)])
def test_sentry_on_failure(bot: Bot, on_failure: str, expect_stop: bool) -> None:
    bot.write("check", "steps:\n  - {action: FindImage, template: Main}\n")
    thread, errors, ctx = start(bot, f"""
sentries:
  - {{routine: check, frequency: 1s, on_failure: {on_failure}}}
steps:
  - {{action: Sleep, duration: 2500ms}}
  - {{action: SetVariable, name: finished, value: "yes"}}
""")
    thread.join(20)
    outcomes = ctx.sentries.outcomes
    assert outcomes and not outcomes[0].success and "template 'Main' not found" in (outcomes[0].error or "")
    assert outcomes[0].action == on_failure
    if expect_stop:
        assert isinstance(errors[0], RoutineStopped) and "finished" not in ctx.variables
    else:
        assert not errors and ctx.variables.get("finished") == "yes"


def test_a_sentry_never_ignores_stop(bot: Bot) -> None:
    bot.write("slow", "steps:\n  - {action: Sleep, duration: 60s}\n")
    thread, errors, ctx = start(bot, "sentries:\n  - {routine: slow, frequency: 1s}\nsteps:\n"
                                     "  - {action: Sleep, duration: 60s}\n")
    wait_for(lambda: any(e.sentry == "slow" and e.kind == "started" for e in bot.events))
    ctx.controller.stop()
    thread.join(10)
    assert not thread.is_alive() and isinstance(errors[0], RoutineStopped)
    wait_for(lambda: any(e.sentry == "slow" and e.kind == "failed" for e in bot.events))
    assert ctx.sentries.active() == []


def test_device_calls_of_sentries_and_main_routine_are_serialised(bot: Bot) -> None:
    inside = threading.Semaphore(1)
    overlaps: list[int] = []
    original = bot.device.tap

    def tap(x: int, y: int) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(1)
            return
        try:
            time.sleep(0.002)
            original(x, y)
        finally:
            inside.release()

    bot.device.tap = tap  # type: ignore[method-assign]
    bot.write("clicker", "steps:\n  - {action: Repeat, iterations: 50, actions: [{action: Click, x: 1, y: 50}]}\n")
    thread, errors, _ = start(bot, "sentries:\n  - {routine: clicker, frequency: 1s}\nsteps:\n"
                                   "  - {action: Repeat, iterations: 400, actions: [{action: Click, x: 2, y: 60}]}\n")
    thread.join(30)
    assert not errors and overlaps == []


def test_pause_reaches_a_busy_loop_at_its_next_checkpoint(bot: Bot) -> None:
    thread, errors, ctx = start(bot, "steps:\n  - {action: Repeat, iterations: 1000000, actions: "
                                     "[{action: Increment, name: n}, {action: Sleep, duration: 2ms}]}\n")
    wait_for(lambda: int(ctx.variables.get_or("n", "0") or 0) > 5)
    t0 = time.perf_counter()
    ctx.controller.pause()
    at_pause = int(ctx.variables.get("n"))
    time.sleep(0.3)
    after = int(ctx.variables.get("n"))
    assert after - at_pause <= 1  # at most the increment already past its checkpoint
    print(f"pause: {after - at_pause} increment(s) after pause(); sampled {(time.perf_counter() - t0) * 1000:.0f} ms")
    ctx.controller.resume()
    wait_for(lambda: int(ctx.variables.get("n")) > after + 3)
    ctx.controller.stop()
    thread.join(10)
    assert isinstance(errors[0], RoutineStopped)
