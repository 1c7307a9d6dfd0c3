"""The bot-session harness of this suite: an observer that keeps everything, a spec with quick supervision, and a
session run on its own event loop with a thread pool for its blocking calls (as the Prefect adapter's)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emufleet.bot import BotEvent, BotSession, BotSpec, EngineAssets, RecoverySettings
from emufleet.bot.health import HealthSettings
from emufleet.groups import BotStatus, RestartPolicy
from emufleet.groups.definition import RestartMode
from emufleet.routines import RoutineRegistry

__all__ = ["Recorder", "_in_game", "_run", "_spec"]


class Recorder:
    """A BotObserver that keeps everything."""

    def __init__(self) -> None:
        self.statuses: list[BotStatus] = []
        self.events: list[BotEvent] = []
        self.frames: list[Path] = []
        self.on_progress: Callable[[int, int], None] | None = None

    def status(self, status: BotStatus) -> None:
        self.statuses.append(status)

    def event(self, event: BotEvent) -> None:
        self.events.append(event)

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[Any]) -> None:
        self.frames.extend(frames)

    def progress(self, done: int, total: int) -> None:
        if self.on_progress is not None:
            self.on_progress(done, total)

    def kinds(self) -> list[str]:
        return [str(e.kind) for e in self.events if e.kind not in ("bot.heartbeat", "bot.step-completed")]


def _in_game(simulator: Callable[..., Any]) -> Any:
    """A demo instance with the game in the foreground (on its home screen)."""
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    return inst


def _spec(serial: str, routine: str, **kwargs: Any) -> BotSpec:
    recovery = {"routine": "recovery/quick", "stuck_after": 60.0, **kwargs.pop("recovery", {})}
    health = {"interval": 0.5, **kwargs.pop("health", {})}
    return BotSpec(group="t", bot=0, instance=serial, routine=routine,
                   restart_policy=kwargs.pop("restart_policy", RestartPolicy(mode=RestartMode.NEVER)),
                   recovery=RecoverySettings.model_validate(recovery), health=HealthSettings(**health), **kwargs)


def _run(spec: BotSpec, registry: RoutineRegistry, observer: Recorder, tmp_path: Path, *,
         made: Callable[[BotSession], None] | None = None,
         wrap: Callable[[Callable[..., Any]], Callable[..., Any]] | None = None, **kwargs: Any) -> BotStatus:
    """Run a session to its end (at most 120 s). ``wrap(run_blocking)`` may stand between the session and its
    blocking calls (``wrap(f)(fn, *args)``, on a pool thread) to order a race deterministically."""
    executor = ThreadPoolExecutor(8)

    def direct(fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)

    blocking = wrap(direct) if wrap is not None else direct

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: blocking(fn, *args))

    async def main() -> BotStatus:
        session = BotSession(spec, EngineAssets(registry.templates, registry), call=call, observer=observer,
                             evidence_dir=tmp_path / "evidence", **kwargs)
        if made is not None:
            made(session)
        return await asyncio.wait_for(session.run(), timeout=120)

    try:
        return asyncio.run(main())
    finally:
        executor.shutdown(wait=True)


