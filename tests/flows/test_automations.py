"""The shipped automations on the session Prefect server: Discord-shaped notifications reach a local receiver, a
zombie run ends Crashed, applying twice updates instead of duplicating."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prefect import flow
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import StateType
from prefect.events.worker import EventsWorker

from adapters.automations import apply_automations, emufleet_automations, remove_automations, save_webhook_block
from adapters.events import emit
from adapters.farm import quarantine_event
from emufleet.bot.events import BotEvent, BotRef, EventKind
from emufleet.errors import InputError
from emufleet.farm import QuarantineEntry
from emufleet.hosts import InstanceId
from emufleet.sim.adbserver import free_port
from flows.server import PrefectServer

pytestmark = pytest.mark.prefect

REPO = Path(__file__).resolve().parents[2]


class Receiver:
    """A loopback HTTP endpoint recording every POSTed JSON body (what Discord would receive)."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        self.content_types: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.content_types.append(self.headers.get("Content-Type", ""))
                    receiver.bodies.append(json.loads(raw))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/webhook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def contents(self) -> list[str]:
        with self._lock:
            return [body["content"] for body in self.bodies]

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout_s: float) -> list[str]:
        deadline = time.monotonic() + timeout_s
        while not predicate(self.contents()) and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.contents()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def prefix(prefect_server: PrefectServer) -> Iterator[str]:
    """A unique automation-name prefix; the test's automations are deleted afterwards."""
    name = f"test-{uuid.uuid4().hex[:8]}: "
    yield name

    async def cleanup() -> None:
        async with get_client() as client:
            await remove_automations(client, name)

    asyncio.run(cleanup())


def wait_loaded(prefix: str, timeout_s: float = 30.0) -> None:
    """Until the server's triggers service has loaded every automation written so far.

    Prefect loads a written automation after its commit, in a task of the server (SQLite) or on a PostgreSQL
    NOTIFY: nothing in the API says when. Both load in the order they were written, one at a time under one lock,
    so a sentinel automation written now proves the earlier ones loaded once it acts: probe events are sent until
    its ``do-nothing`` action's ``prefect.automation.action.executed`` event is stored.
    """
    from prefect.events import emit_event
    from prefect.events.actions import DoNothing
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    probe = f"emufleet.test.probe.{uuid.uuid4().hex}"

    async def create() -> uuid.UUID:
        async with get_client() as client:
            return await client.create_automation(AutomationCore(
                name=f"{prefix}loaded", trigger=EventTrigger(expect={"emufleet.test.probe"},
                                                             match={"prefect.resource.id": probe},
                                                             posture=Posture.Reactive, threshold=1,
                                                             within=timedelta(0)),
                actions=[DoNothing()]))

    async def acted(automation_id: uuid.UUID) -> bool:
        async with get_client() as client:
            page = await client.read_events(EventFilter(
                event=EventNameFilter(name=["prefect.automation.action.executed"]),
                resource=EventResourceFilter(id=[f"prefect.automation.{automation_id}"])), limit=1)
            return bool(page.events)

    automation_id = asyncio.run(create())
    deadline = time.monotonic() + timeout_s
    while True:
        emit_event("emufleet.test.probe", resource={"prefect.resource.id": probe})
        EventsWorker.drain_all(timeout=10)
        if asyncio.run(acted(automation_id)):
            return
        assert time.monotonic() < deadline, f"the triggers service loaded no automation within {timeout_s} s"
        time.sleep(0.5)


@flow(name="run-bot")
def _failing_bot() -> None:
    raise RuntimeError("the bot's routine blew up")


def test_notifications_reach_a_discord_webhook(prefect_server: PrefectServer, receiver: Receiver,
                                               prefix: str) -> None:
    group = f"nt-{uuid.uuid4().hex[:6]}"
    block_name = f"test-hook-{uuid.uuid4().hex[:8]}"

    async def setup() -> list[tuple[str, str]]:
        notify = await save_webhook_block(receiver.url, name=block_name)
        automations = emufleet_automations(notify, stall_after=timedelta(seconds=10), prefix=prefix)
        async with get_client() as client:
            first = await apply_automations(client, automations)
            again = await apply_automations(client, automations)
            for name, _ in first:
                assert len(await client.read_automations_by_name(name)) == 1
        assert [what for _, what in first] == ["created"] * 4
        return again

    assert [what for _, what in asyncio.run(setup())] == ["updated"] * 4
    wait_loaded(prefix)
    ref = BotRef(group, 0, InstanceId("local", "127.0.0.1:16384"))
    emit(BotEvent(EventKind.GAVE_UP, ref.with_account("demo_0001"), {"reason": "failure budget spent", "failures": 3}))
    silent = BotRef(group, 1, InstanceId("local", "127.0.0.1:16416"))
    emit(BotEvent(EventKind.STARTED, silent, {"routine": "demo/cycle"}))  # then silence
    finished = BotRef(group, 2, InstanceId("local", "127.0.0.1:16448"))
    emit(BotEvent(EventKind.STARTED, finished, {"routine": "demo/cycle"}))
    emit(BotEvent(EventKind.FINISHED, finished, {"state": "completed"}))
    quarantine_event(QuarantineEntry(0, "instance", f"{group}/127.0.0.1:16480", "9 fault(s) in the last 60 min",
                                      datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 10, 15)))
    quarantine_event(QuarantineEntry(0, "account", f"{group}-4242", "failed on 3 different instances within a day",
                                      datetime(2026, 12, 7, 10, 0), datetime(2026, 12, 7, 10, 0)))
    EventsWorker.drain_all(timeout=10)
    failed = _failing_bot(return_state=True)
    assert failed.is_failed()

    def complete(contents: list[str]) -> bool:
        return (any("gave up" in c for c in contents) and any("is Failed" in c for c in contents)
                and any(f"{group}/bot-1" in c and "completed no step" in c for c in contents)
                and any(c.startswith("emufleet: instance ") for c in contents)
                and any(f"account {group}-4242 quarantined" in c for c in contents))

    contents = receiver.wait_for(complete, timeout_s=45)
    assert complete(contents), contents
    assert set(receiver.content_types) == {"application/json"}
    assert all(set(body) == {"content"} and len(body["content"]) <= 2000 for body in receiver.bodies)
    gave_up = next(c for c in contents if "gave up" in c)
    assert gave_up.startswith(f"emufleet: {group}/bot-0 gave up on local/127.0.0.1:16384, account demo_0001: "
                              "failure budget spent (3 failures)")
    assert "Event Feed: http" in gave_up  # a link to the bot's story, the server knows its UI URL
    stalled = next(c for c in contents if "completed no step" in c)
    assert stalled.startswith(f"emufleet: {group}/bot-1 on local/127.0.0.1:16416 completed no step for 10 s")
    assert any("is Failed" in c and "blew up" in c for c in contents)
    held = next(c for c in contents if c.startswith("emufleet: instance "))
    assert held.startswith(f"emufleet: instance {group}/127.0.0.1:16480 quarantined: 9 fault(s) in the last 60 min "
                           "(health check after 2026-12-07T10:15:00Z)"), held
    account = next(c for c in contents if f"account {group}-4242 quarantined" in c)
    assert account.startswith(f"emufleet: account {group}-4242 quarantined: failed on 3 different instances within a "
                              "day (marked failed until a reset or a release)"), account
    assert not any(f"{group}/bot-2" in c for c in contents)  # it finished: nothing to report

    async def cleanup() -> None:
        block = await Webhook.aload(block_name)
        async with get_client() as client:
            await client.delete_block_document(block._block_document_id)

    asyncio.run(cleanup())


def test_any_notification_block_gets_the_message(prefect_server: PrefectServer, receiver: Receiver,
                                                 prefix: str) -> None:
    """``--block NAME`` of a Prefect notification block (here Prefect's custom-webhook one) goes through
    ``SendNotification``: the block gets the same message as its body."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from adapters.automations import resolve_block

    group, name = f"nb-{uuid.uuid4().hex[:6]}", f"test-notify-{uuid.uuid4().hex[:8]}"

    async def setup() -> None:
        block = CustomWebhookNotificationBlock(name="receiver", url=receiver.url,
                                               json_data={"content": "{{subject}} / {{body}}"})
        await block.asave(name)
        async with get_client() as client:
            notify = await resolve_block(client, f"custom-webhook/{name}")
            assert notify.kind == "notification" and (await resolve_block(client, name)) == notify
            with pytest.raises(InputError, match="no Prefect block"):
                await resolve_block(client, f"webhook/{name}")
            await apply_automations(client, emufleet_automations(notify, prefix=prefix)[:1])  # "bot gave up"

    asyncio.run(setup())
    wait_loaded(prefix)
    emit(BotEvent(EventKind.GAVE_UP, BotRef(group, 4, InstanceId("local", "127.0.0.1:16512")),
                  {"reason": "the last rung failed"}))
    EventsWorker.drain_all(timeout=10)
    contents = receiver.wait_for(lambda c: any(group in x for x in c), timeout_s=30)
    assert any(c.startswith(f"emufleet: a bot gave up / emufleet: {group}/bot-4 gave up on local/127.0.0.1:16512: "
                            "the last rung failed") for c in contents), contents

    async def cleanup() -> None:
        async with get_client() as client:
            document = await client.read_block_document_by_name(name, "custom-webhook")
            await client.delete_block_document(document.id)

    asyncio.run(cleanup())


_ZOMBIE = """
import sys, time
from pathlib import Path
from prefect import flow, tags
from prefect.context import get_run_context

@flow(name="run-bot")
def done() -> None:
    pass

@flow(name="run-bot")
def hang() -> None:
    Path(sys.argv[2]).write_text(str(get_run_context().flow_run.id))
    time.sleep(300)

with tags(sys.argv[1]):
    done()
    hang()
"""


def test_a_run_whose_heartbeats_stop_ends_crashed(prefect_server: PrefectServer, prefix: str,
                                                  tmp_path: Path) -> None:
    tag = f"zombie-{uuid.uuid4().hex[:8]}"  # only this test's runs: the window here is shorter than a heartbeat

    async def setup() -> None:
        async with get_client() as client:
            await apply_automations(client, emufleet_automations(None, zombie_after=timedelta(seconds=10),
                                                                 prefix=prefix, tag=tag))

    asyncio.run(setup())
    wait_loaded(prefix)
    marker = tmp_path / "run-id"
    env = {**os.environ, "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": "30", "PREFECT_LOGGING_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-c", _ZOMBIE, tag, str(marker)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        assert marker.exists(), "the bot-like run never started"
        run_id = uuid.UUID(marker.read_text())
        _wait_heartbeat(run_id)
    finally:
        process.kill()  # our own child, by its handle: the launch process dies with kill -9
        process.wait(timeout=10)

    async def states() -> dict[str, StateType | None]:
        async with get_client() as client:
            runs = await client.read_flow_runs()
            return {str(r.id): r.state_type for r in runs if tag in r.tags}

    deadline = time.monotonic() + 40
    while (found := asyncio.run(states())).get(str(run_id)) != StateType.CRASHED and time.monotonic() < deadline:
        time.sleep(1.0)
    assert found[str(run_id)] == StateType.CRASHED, found
    assert sorted(s.value for s in found.values() if s) == ["COMPLETED", "CRASHED"]  # the finished run is left alone


def _wait_heartbeat(run_id: uuid.UUID) -> None:
    """Until the server has the run's first flow-run heartbeat (the one the trigger starts its window from)."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    async def seen() -> bool:
        async with get_client() as client:
            page = await client.read_events(EventFilter(event=EventNameFilter(name=["prefect.flow-run.heartbeat"]),
                                                        resource=EventResourceFilter(
                                                            id=[f"prefect.flow-run.{run_id}"])), limit=5)
            return bool(page.events)

    deadline = time.monotonic() + 20
    while not asyncio.run(seen()):
        assert time.monotonic() < deadline, "no flow-run heartbeat reached the server"
        time.sleep(0.5)


def test_cli_apply_creates_then_updates(prefect_server: PrefectServer, receiver: Receiver) -> None:
    from typer.testing import CliRunner

    from adapters.automations import PREFIX, WEBHOOK_BLOCK
    from emufleet.cli import app

    def invoke(*args: str) -> Any:
        return CliRunner().invoke(app, ["automations", "apply", *args], catch_exceptions=False)

    try:
        first = invoke("--webhook", receiver.url, "--zombie-after", "off")
        assert first.exit_code == 0, first.output
        assert first.stdout.split("\n")[:4] == [f"created  {PREFIX}bot gave up", f"created  {PREFIX}bot run failed "
                                                "or crashed", f"created  {PREFIX}quarantined",
                                                f"created  {PREFIX}bot made no progress"]
        again = invoke("--zombie-after", "off")  # the saved webhook block is reused
        assert again.exit_code == 0 and again.stdout.count("updated") == 4 and "not applied" not in again.output
        assert invoke("--webhook", receiver.url, "--block", "x").exit_code == 2
        assert invoke("--webhook", "ftp://example.org").exit_code == 2
        missing = invoke("--block", "no-such-block")
        assert missing.exit_code == 1 and "no Prefect block named 'no-such-block'" in missing.stderr
        dry = invoke("--dry-run", "--zombie-after", "90s", "--stall-after", "15m")
        assert dry.exit_code == 0 and f'"name": "{PREFIX}crash zombie runs"' in dry.stdout
        assert '"within": 90.0' in dry.stdout and '"within": 900.0' in dry.stdout
        removed = CliRunner().invoke(app, ["automations", "remove"], catch_exceptions=False)
        assert removed.exit_code == 0, removed.output
        # Every emufleet automation goes, the zombie one too if an earlier launch on this server ensured it.
        names = ("bot gave up", "bot run failed or crashed", "quarantined", "bot made no progress")
        assert {f"removed  {PREFIX}{name}" for name in names} <= set(removed.stdout.splitlines())

        async def left() -> list[str]:
            async with get_client() as client:
                return [a.name for a in await client.read_automations() if a.name.startswith(PREFIX)]

        assert asyncio.run(left()) == []
    finally:
        async def cleanup() -> None:
            async with get_client() as client:
                await remove_automations(client, PREFIX)
                block = await client.read_block_document_by_name(WEBHOOK_BLOCK, "webhook")
                await client.delete_block_document(block.id)

        asyncio.run(cleanup())
