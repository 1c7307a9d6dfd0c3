"""Tracing (emufleet.tracing): off by default and then no wrapper at all; on, a bot's and a launch's spans reach an
OTLP receiver started by the test (tests/otlp.py), nested and carrying their Prefect run ids.

Tracing is process-wide (one global tracer provider), so the traced runs happen in subprocesses that get the
``OTEL_*`` variables; this process stays untraced.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from emufleet import tracing
from emufleet.bot import BotSpec
from emufleet.bot.observer import LogObserver
from emufleet.bot.steps import InlineSteps
from tests.otlp import OtlpReceiver, ReceivedSpan

REPO = Path(__file__).resolve().parents[1]


def _env(receiver: OtlpReceiver, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="200",
               OTEL_SERVICE_NAME="emufleet-test", **extra)
    return env


def test_the_variables_that_turn_tracing_on() -> None:
    assert not tracing.wanted({})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing.wanted({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert tracing.wanted({"OTEL_TRACES_EXPORTER": "console,otlp"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    assert not tracing.wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_TRACES_EXPORTER": "none"})


def test_off_every_hook_is_the_identity() -> None:
    assert not tracing.enabled(), "the suite runs without OTEL_* variables"

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    observer, steps = LogObserver(), InlineSteps(call)
    hooks = tracing.instrument_bot(BotSpec(group="g", bot=0, instance="127.0.0.1:5555", routine="r"), observer, steps)
    assert hooks.observer is observer and hooks.steps is steps and hooks.connect is None
    assert tracing.span("x", {"a": 1}) is tracing.span("y")  # one shared null context


def _children(spans: list[ReceivedSpan], parent: ReceivedSpan, name: str) -> list[ReceivedSpan]:
    return [s for s in spans if s.parent_id == parent.span_id and s.name == name]


@pytest.mark.slow
def test_a_bot_run_is_traced_down_to_its_device_calls(simulator: Callable[..., Any]) -> None:
    inst = simulator(instances=1, scenario="demo").instances[0]
    with OtlpReceiver() as receiver:
        done = subprocess.run(
            [str(Path(sys.executable).with_name("emufleet")), "routines", "run", "demo/reach_home", "--serial",
             inst.serial, "--set", "settle_checks=5"], env=_env(receiver, EMUFLEET_TRACE_DEVICE_SAMPLE="1"),
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        spans = receiver.wait_for(lambda got: any(s.name == "emufleet.bot" for s in got))
    (bot,) = [s for s in spans if s.name == "emufleet.bot"]
    assert bot.attributes["emufleet.instance"] == inst.serial and bot.attributes["emufleet.routine"] == \
        "demo/reach_home"
    assert bot.service == "emufleet-test" and "emufleet.bot.started" in bot.events
    (attempt,) = _children(spans, bot, "emufleet.attempt")
    steps = _children(spans, attempt, "emufleet.step")
    assert [s.attributes["emufleet.step.index"] for s in steps] == list(range(len(steps))) and len(steps) >= 2
    assert all(s.attributes["emufleet.step.outcome"] == "completed" for s in steps)
    device = [s for s in spans if s.name.startswith("emufleet.device.")]
    assert {"emufleet.device.screenshot", "emufleet.device.tap"} <= {s.name for s in device}
    step_ids = {step.span_id for step in steps}
    assert all(s.parent_id in step_ids for s in device if s.name == "emufleet.device.tap"), "the routine's taps"
    # checks made outside a step (the device's settings when it opens, health checks) hang under the attempt or bot
    assert all(s.parent_id in step_ids | {attempt.span_id, bot.span_id} for s in device)
    assert {s.trace_id for s in spans if s.name.startswith("emufleet.")} == {bot.trace_id}


@pytest.mark.slow
@pytest.mark.prefect
def test_a_launch_trace_reaches_the_receiver_with_its_prefect_runs(prefect_server: Any, fleet_home: Any,
                                                                   simulator: Callable[..., Any]) -> None:
    sim = simulator(instances=1)
    name = fleet_home.group("traced", backend_options={"serials": [sim.instances[0].serial]})
    script = textwrap.dedent(f"""
        import asyncio
        from flows.launch_group import launch_group
        state = asyncio.run(launch_group({name!r}, return_state=True))
        assert state.is_completed(), state.message
        print(state.result().flow_run_id)
    """)
    with OtlpReceiver() as receiver:
        done = subprocess.run([sys.executable, "-c", script], env=_env(receiver), capture_output=True, text=True,
                              timeout=180, cwd=REPO)
        assert done.returncode == 0, done.stdout + done.stderr[-3000:]
        launch_run = done.stdout.split()[-1]
        spans = receiver.wait_for(lambda got: any(s.name == "emufleet.launch.stop_instances" for s in got)
                                  and any(s.name == "emufleet.bot" for s in got))
    phases = [s for s in spans if s.name.startswith("emufleet.launch.")]
    assert {s.name for s in phases} >= {"emufleet.launch.prepare", "emufleet.launch.acquire", "emufleet.launch.bots"}
    assert all(s.attributes["prefect.flow_run.id"] == launch_run for s in phases)
    (launch,) = [s for s in spans if s.attributes.get("prefect.run.id") == launch_run]  # Prefect's own span
    assert all(s.parent_id == launch.span_id for s in phases)
    (bot,) = [s for s in spans if s.name == "emufleet.bot"]
    (bot_run,) = [s for s in spans if s.span_id == bot.parent_id]  # the run-bot flow run's span
    assert bot_run.attributes["prefect.run.id"] == bot.attributes["prefect.flow_run.id"]
    steps = [s for s in spans if s.name == "emufleet.step"]
    assert steps and all(s.attributes.get("prefect.task_run.id") for s in steps)
    assert {s.trace_id for s in spans if s.name.startswith("emufleet.")} == {launch.trace_id}
