"""Starting and stopping the local system in dependency order, and asking each component for its health.

A :class:`Component` names the components it requires; :func:`start_system` starts every component once all it
requires are ready, independent ones at the same time (seed 003 "Parallel Startup"), each start returning only when
the component answers its readiness check; :func:`stop_system` stops them in the reverse order (a component only
after every component that requires it). A component whose requirement failed is skipped, not started into a broken
system. :func:`system_health` asks every component at once and rolls the answers up
(:func:`emufleet.system.health.roll_up`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from graphlib import TopologicalSorter
from typing import Protocol

from emufleet.errors import EmufleetError, OrchestrationError
from emufleet.system.health import ComponentHealth, ComponentState, SystemHealth, roll_up

__all__ = ["Component", "StepResult", "start_system", "stop_system", "system_health"]


class Component(Protocol):
    """One part of the local system. ``requires`` names components that must be ready before it starts (and that
    stop after it); ``required``: the system is Critical without it. A component may also have ``uses``: the
    components it talks to without waiting for their readiness to start (it starts alongside them and waits for
    what it needs of them itself, its imports done meanwhile); they too stop after it."""

    name: str
    requires: tuple[str, ...]
    required: bool

    def start(self, timeout_s: float) -> str:
        """Start it unless it runs, and return once it is ready: what was done (``started …``,
        ``already running …``). Raises :class:`~emufleet.errors.EmufleetError` when it cannot be made ready."""
        ...

    def stop(self) -> str:
        """Stop it if it runs: what was done. Raises :class:`~emufleet.errors.EmufleetError` when it did not stop."""
        ...

    def health(self) -> ComponentHealth:
        """Its state now; never raises (a failing check is a ``failed`` state with the error as issue)."""
        ...


@dataclass(frozen=True, slots=True)
class StepResult:
    """What happened to one component during :func:`start_system`/:func:`stop_system`: ``ok``, a one-line
    ``message``, and ``seconds`` from the start of the whole operation to the end of this step."""

    name: str
    ok: bool
    message: str
    seconds: float


def _run(components: Sequence[Component], graph: dict[str, set[str]], act: Callable[[Component], str],
         on_step: Callable[[StepResult], None] | None, *, skip_after_failure: bool) -> list[StepResult]:
    by_name = {c.name: c for c in components}
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    began = time.monotonic()
    results: dict[str, StepResult] = {}
    failed: set[str] = set()

    def finish(result: StepResult) -> None:
        results[result.name] = result
        if not result.ok:
            failed.add(result.name)
        if on_step is not None:
            on_step(result)
        sorter.done(result.name)

    with ThreadPoolExecutor(max_workers=max(len(components), 1), thread_name_prefix="emufleet-system") as pool:
        running: dict[Future[str], str] = {}
        while sorter.is_active():
            for name in sorter.get_ready():
                blocked = sorted(graph[name] & failed) if skip_after_failure else []
                if blocked:
                    finish(StepResult(name, False, f"skipped: {', '.join(blocked)} not ready",
                                      time.monotonic() - began))
                else:
                    running[pool.submit(act, by_name[name])] = name
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                try:
                    message, ok = future.result(), True
                except EmufleetError as exc:
                    message, ok = f"{type(exc).__name__}: {exc}", False
                finish(StepResult(name, ok, message, time.monotonic() - began))
    return [results[c.name] for c in components]


def _uses(component: Component) -> tuple[str, ...]:
    return tuple(getattr(component, "uses", ()))  # optional: see Component


def _graph(components: Sequence[Component]) -> dict[str, set[str]]:
    names = {c.name for c in components}
    for c in components:
        unknown = {*c.requires, *_uses(c)} - names
        if unknown:
            raise OrchestrationError(f"component {c.name!r} requires unknown {', '.join(sorted(unknown))}")
    return {c.name: set(c.requires) for c in components}


def start_system(components: Sequence[Component], *, timeout_s: float = 120.0,
                 on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Start every component in dependency order (see the module docstring); ``on_step`` hears each result as it
    comes. Returns the results in ``components``' order.

    Raises:
        OrchestrationError: a component requires one that is not in ``components`` (or the graph has a cycle).
    """
    return _run(components, _graph(components), lambda c: c.start(timeout_s), on_step, skip_after_failure=True)


def stop_system(components: Sequence[Component], *,
                on_step: Callable[[StepResult], None] | None = None) -> list[StepResult]:
    """Stop every component, each after all components that require or use it (the reverse of
    :func:`start_system`); a failed stop does not keep the others from stopping."""
    graph: dict[str, set[str]] = {name: set() for name in _graph(components)}
    for c in components:
        for needed in (*c.requires, *_uses(c)):
            graph[needed].add(c.name)
    return _run(components, graph, lambda c: c.stop(), on_step, skip_after_failure=False)


def system_health(components: Sequence[Component]) -> SystemHealth:
    """Every component's health, asked at the same time, rolled up."""
    def ask(c: Component) -> ComponentHealth:
        try:
            return c.health()
        except EmufleetError as exc:  # a check that raises is a failing check, not a crashed status command
            return ComponentHealth(c.name, ComponentState.FAILED, c.required, issue=str(exc))

    with ThreadPoolExecutor(max_workers=max(len(components), 1), thread_name_prefix="emufleet-health") as pool:
        return roll_up(list(pool.map(ask, components)))
