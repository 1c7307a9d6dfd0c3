"""Bot events on the session Prefect server: readable with their related resources; never failing the bot."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.context import get_run_context
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter, EventResourceFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, temporary_settings

from adapters.events import bot_resource_id, emit, prefect_event
from emufleet.bot.events import BotEvent, BotRef, EventKind
from emufleet.hosts import InstanceId
from emufleet.sim.adbserver import free_port
from flows.server import PrefectServer, refresh_prefect_settings, start_server, stop_server

pytestmark = pytest.mark.prefect


def read_events(event_filter: EventFilter, count: int, timeout_s: float = 20.0) -> list[ReceivedEvent]:
    """Events matching ``event_filter``, oldest first, once at least ``count`` have been persisted."""
    EventsWorker.drain_all(timeout=10)

    async def read() -> list[ReceivedEvent]:
        async with get_client() as client:
            page = await client.read_events(event_filter, limit=50)  # the server answers 422 without a limit
            return sorted(page.events, key=lambda e: e.occurred)

    deadline = time.monotonic() + timeout_s
    while True:
        events = asyncio.run(read())
        if len(events) >= count or time.monotonic() > deadline:
            return events
        time.sleep(0.5)


def _roles(event: ReceivedEvent) -> dict[str, str]:
    return {r.role: r.id for r in event.related}


def test_prefect_event_shape() -> None:
    ref = BotRef("demo", 1, InstanceId("local", "127.0.0.1:16416"), flow_run_id="1234", account="demo_0003")
    kwargs = prefect_event(BotEvent(EventKind.GAVE_UP, ref, {"reason": "x" * 5000, "failures": 3}, time=1e9))
    assert kwargs["event"] == "emufleet.bot.gave-up"
    assert kwargs["resource"]["prefect.resource.id"] == "emufleet.bot.demo.1"
    assert kwargs["resource"]["prefect.resource.name"] == "demo/bot-1"
    assert {r["prefect.resource.role"]: r["prefect.resource.id"] for r in kwargs["related"]} == {
        "flow-run": "prefect.flow-run.1234", "instance": "emufleet.instance.local/127.0.0.1:16416",
        "group": "emufleet.group.demo", "account": "emufleet.account.demo_0003"}
    assert len(kwargs["payload"]["reason"]) == 2001 and kwargs["payload"]["failures"] == 3
    assert kwargs["occurred"].timestamp() == 1e9
    no_run = prefect_event(BotEvent(EventKind.STARTED, BotRef("demo", 0, InstanceId("local", "s"))))
    assert [r["prefect.resource.role"] for r in no_run["related"]] == ["instance", "group"]


def test_bot_story_is_readable_with_related_resources(prefect_server: PrefectServer) -> None:
    group = f"ev-{uuid.uuid4().hex[:8]}"

    @flow(name="run-bot")
    def bot_like() -> str:
        run_id = str(get_run_context().flow_run.id)
        ref = BotRef(group, 0, InstanceId("host-a", "127.0.0.1:16384"), flow_run_id=run_id)
        emit(BotEvent(EventKind.STARTED, ref, {"routine": "demo/cycle"}))
        leased = ref.with_account("demo_0001")
        emit(BotEvent(EventKind.ACCOUNT_LEASED, leased, {"pool": "demo"}))
        emit(BotEvent(EventKind.STUCK, leased, {"reason": "stuck", "idle_s": 61.5}))
        emit(BotEvent(EventKind.RECOVERING, leased, {"rung": "restart_app", "fault": "stuck"}))
        return run_id

    run_id = bot_like()
    events = read_events(EventFilter(resource=EventResourceFilter(id=[bot_resource_id(group, 0)])), 4)
    assert [e.event for e in events] == ["emufleet.bot.started", "emufleet.account.leased", "emufleet.bot.stuck",
                                        "emufleet.bot.recovering"]
    stuck = events[2]
    assert stuck.payload == {"reason": "stuck", "idle_s": 61.5}
    roles = _roles(stuck)
    assert roles["flow-run"] == f"prefect.flow-run.{run_id}"
    assert roles["instance"] == "emufleet.instance.host-a/127.0.0.1:16384"
    assert roles["group"] == f"emufleet.group.{group}" and roles["account"] == "emufleet.account.demo_0001"
    assert "account" not in _roles(events[0])
    assert sum(r.id == f"prefect.flow-run.{run_id}" for r in stuck.related) == 1  # Prefect adds no duplicate
    assert "flow" in roles  # Prefect's own context resources (flow, tags) come along inside the run
    # The Event Feed of the flow run (or of the instance) finds the bot's events through the related resources.
    by_run = read_events(EventFilter(event=EventNameFilter(prefix=["emufleet."]),
                                     related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"])), 4)
    assert len(by_run) == 4


def test_unreachable_server_never_fails_the_bot(prefect_server: PrefectServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        for i in range(20):  # queued for Prefect's events worker (how fast: benchmarks/health.py, emit_dead_ms)
            emit(BotEvent(EventKind.HEARTBEAT, BotRef("dead", 0, InstanceId("local", "s")), {"steps_done": i}))
        # Its worker gives up on the dead server (≈ 7 s of reconnection attempts, logged) without raising here.
        EventsWorker.drain_all(timeout=20)


def test_a_thread_without_prefect_context_reaches_the_server(prefect_server: PrefectServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A bot's supervisor thread is a plain thread: Prefect's settings context does not follow it there."""
    group = f"th-{uuid.uuid4().hex[:8]}"
    sent: list[EventKind] = []

    def bot_thread(kind: EventKind) -> None:
        emit(BotEvent(kind, BotRef(group, 0, InstanceId("local", "s"))))
        sent.append(kind)

    def in_thread(kind: EventKind) -> None:
        thread = threading.Thread(target=bot_thread, args=(kind,))
        thread.start()
        thread.join()

    in_thread(EventKind.STUCK)
    monkeypatch.delenv("PREFECT_API_URL")
    refresh_prefect_settings()  # Prefect's global settings too: no API anywhere
    try:
        in_thread(EventKind.RECOVERED)  # dropped at once, never an ephemeral server
    finally:
        monkeypatch.undo()
        refresh_prefect_settings()
    assert sent == [EventKind.STUCK, EventKind.RECOVERED]
    events = read_events(EventFilter(resource=EventResourceFilter(id=[bot_resource_id(group, 0)])), 1)
    assert [e.event for e in events] == ["emufleet.bot.stuck"]


@pytest.mark.slow
def test_an_outage_never_fails_the_emitter_and_events_flow_again_after_it(tmp_path: Path) -> None:
    """While the server is down, ``emit`` neither raises nor blocks; once it is back, new events arrive. (Prefect's
    client also resends what it had not confirmed, but on a loaded machine its events worker gives pending items
    up: events from an outage are best effort, not a guarantee; docs/supervision.md "Events".)"""
    port = free_port()
    server = start_server(tmp_path / "prefect", port, record=False)
    ref = BotRef(f"out-{uuid.uuid4().hex[:6]}", 0, InstanceId("local", "s"))
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            emit(BotEvent(EventKind.STARTED, ref, {"routine": "n0"}))
            stop_server(server)
            for n in (1, 2):  # queued or dropped, never raised (how fast: benchmarks/health.py, emit_dead_ms)
                emit(BotEvent(EventKind.STUCK, ref, {"message": f"n{n}"}))
            server = start_server(tmp_path / "prefect", port, record=False)
            emit(BotEvent(EventKind.RECOVERED, ref, {"resume_at": "n3"}))
            deadline = time.monotonic() + 60
            while True:
                events = read_events(EventFilter(resource=EventResourceFilter(id=[bot_resource_id(ref.group, 0)])),
                                     1, timeout_s=5)
                if any(e.payload.get("resume_at") == "n3" for e in events) or time.monotonic() > deadline:
                    break
            assert [e.payload["resume_at"] for e in events if e.payload.get("resume_at") == "n3"] == ["n3"]
    finally:
        EventsWorker.drain_all(timeout=10)  # the worker keeps the URL it started with: the next test's is the session's
        stop_server(server)
