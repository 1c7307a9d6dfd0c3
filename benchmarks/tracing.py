"""What tracing costs a bot: a supervised bot session with no instrumentation, with the tracing hooks while tracing is
off, and with tracing on (exporting over OTLP to a receiver on loopback), in one run.

Each round runs one :class:`emufleet.bot.BotSession` of a routine of ``--steps`` top-level ``WaitForImage`` steps
(a fresh capture and a template match each) on an in-process simulator (demo scenario) through an isolated real adb
server, and takes the time spent around its step calls (``BotStatus.step_s``: the device connect is left out).
``none`` builds the session without hooks; ``off`` through :func:`emufleet.tracing.instrument_bot` before tracing
is configured (what every bot does by default); the two alternate round by round, so load on the shared machine
hits both alike. Then tracing is turned on (:func:`emufleet.tracing.configure` with ``OTEL_EXPORTER_OTLP_ENDPOINT``
at a loopback receiver, device calls sampled at the default 1 %) and ``on`` rounds are timed.

``off_ratio`` = the median over rounds of off / none of the same round (≈ 1: off means no wrapper at all, so what
it shows is the machine's noise), ``on_ratio`` = on / none (medians).

Usage: ``.venv/bin/python benchmarks/tracing.py [--rounds N] [--steps N]``.
The last line is ``off_ratio=<float> on_ratio=<float> spans_exported=<int>``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness import simulator_behind_adb

from emufleet import tracing
from emufleet.bot import BotSession, BotSpec, EngineAssets
from emufleet.bot.observer import LogObserver
from emufleet.bot.steps import InlineSteps
from emufleet.hosts import LOCAL_HOST, InstanceId
from emufleet.routines import RoutineRegistry
from emufleet.settings import data_dir
from emufleet.vision import TemplateSet

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.otlp import OtlpReceiver  # noqa: E402 - the tests' receiver: a loopback HTTP server decoding OTLP


def routine(steps: int) -> str:
    lines = ["version: 1", "routine_name: tracing benchmark", "steps:"]
    lines += ["  - {action: WaitForImage, template: Main, timeout: 5}"] * steps
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="timed sessions per variant")
    parser.add_argument("--steps", type=int, default=40, help="top-level steps per session")
    args = parser.parse_args()
    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        del os.environ[key]
    executor = ThreadPoolExecutor(8)

    async def call(fn: Any, *a: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*a))

    with tempfile.TemporaryDirectory() as tmp, simulator_behind_adb() as (_, sim):
        root = Path(tmp) / "routines"
        (root / "bench").mkdir(parents=True)
        (root / "bench" / "waits.yaml").write_text(routine(args.steps), encoding="utf-8")
        templates = TemplateSet.load(data_dir("templates") / "registry.yaml")
        assets = EngineAssets(templates, RoutineRegistry.load(root, templates))
        inst = sim.instances[0]
        inst.set_state("home_ready")
        spec = BotSpec(group="bench", bot=0, instance=InstanceId(LOCAL_HOST, inst.serial), routine="bench/waits")

        def session_s(hooked: bool) -> float:
            observer, steps = LogObserver(), InlineSteps(call)
            kwargs: dict[str, Any] = {"observer": observer, "steps": steps}
            if hooked:
                hooks = tracing.instrument_bot(spec, observer, steps)
                kwargs = {"observer": hooks.observer, "steps": hooks.steps, "connect": hooks.connect}
            session = BotSession(spec, assets, call=call, **kwargs)
            result = asyncio.run(session.run())
            assert result.state.value == "completed", result
            return result.step_s  # around the step calls: the device connect of each session is left out

        session_s(False)  # warm-up: adb connect, template cache
        none, off, on = [], [], []
        for i in range(args.rounds):  # the order alternates: neither variant always runs second
            pair = (session_s(False), session_s(True)) if i % 2 == 0 else tuple(reversed((session_s(True),
                                                                                          session_s(False))))
            none.append(pair[0])
            off.append(pair[1])
        with OtlpReceiver() as receiver:
            os.environ.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint, OTEL_BSP_SCHEDULE_DELAY="200")
            assert tracing.configure()
            for _ in range(args.rounds):
                on.append(session_s(True))
            tracing.shutdown()
            exported = len(receiver.spans)
    executor.shutdown()
    per_step = {name: statistics.median(v) / args.steps * 1000 for name, v in (("none", none), ("off", off),
                                                                              ("on", on))}
    print(f"{'variant':<10}{'ms per step':>14}")
    for name, value in per_step.items():
        print(f"{name:<10}{value:>14.3f}")
    off_ratio = statistics.median(o / n for o, n in zip(off, none, strict=True))  # paired: same moment's load
    print(f"off_ratio={off_ratio:.3f} on_ratio={per_step['on'] / per_step['none']:.3f} spans_exported={exported}")


if __name__ == "__main__":
    main()
