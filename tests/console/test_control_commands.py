"""The control plane's commands under load: four processes and the console's API send 200 commands at once to one
launch; watchers of two bots take them. None is lost, none numbered twice, none taken twice, each bot takes its
own in order — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from adapters.registry import group_tag
from emufleet import db
from emufleet.control import Command, CommandKind, CommandStore
from emufleet.errors import OrchestrationError
from tests.fleet import REPO, FleetHome

pytestmark = [pytest.mark.prefect]

PER_SENDER = 40  # 4 processes + the console: 200 commands

# One sender process: 40 commands through flows.control.send (what the CLI and the deployments call once they have
# found the group's launch runs, found here once), alternating a launch-wide pause/resume with restarts of bot 1.
_SENDER = """
import asyncio, sys
from prefect.client.orchestration import get_client
from adapters.registry import launch_runs
from emufleet.control import CommandKind
from flows import control

async def main(group: str, count: int, source: str) -> None:
    async with get_client() as client:
        launches = await launch_runs(client, group)
    for i in range(count):
        kind = CommandKind.RESTART_APP if i % 4 == 3 else (CommandKind.PAUSE if i % 2 == 0 else CommandKind.RESUME)
        await control.send(launches, kind, 1 if kind is CommandKind.RESTART_APP else None, source=source)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


@flow(name="launch-group")
def _launch_stand_in() -> None:
    """Only used to create a live launch-group run (Scheduled) that the control functions find."""


@flow(name="run-bot")
def _bot_stand_in() -> None:
    """Only used to create live bot runs (with their ``emufleet.bot`` label) that restarts are checked against."""


def _taker(store: CommandStore, launch: str, bot: int, stop: threading.Event, out: list[Command]) -> None:
    """A watcher of one bot: takes what is new every 20 ms (the launch's watcher: every 0.5 s) until told to stop,
    then once more."""
    while not stop.wait(0.02):
        out.extend(store.take(launch, bot))
    out.extend(store.take(launch, bot))


async def _console_sends(url: str, group: str) -> None:
    """The console's share: the same mix through its API, all requests at once."""
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:
        paths = ["restart-app?bot=1" if i % 4 == 3 else ("pause" if i % 2 == 0 else "resume")
                 for i in range(PER_SENDER)]
        for reply in await asyncio.gather(*(http.post(f"/api/groups/{group}/{path}") for path in paths)):
            reply.raise_for_status()


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_hundred_commands_at_once_lose_none_and_none_is_taken_twice(
        database: str, fleet_home: FleetHome, served: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if database == "postgres":
        monkeypatch.setenv("EMUFLEET_DATABASE_URL", os.environ["EMUFLEET_TEST_POSTGRES_URL"])
    url = os.environ["EMUFLEET_DATABASE_URL"]
    eng = db.engine(url)
    db.upgrade(eng)
    group = fleet_home.group(f"cmd-{database}")

    async def runs() -> tuple[str, list[str]]:
        async with get_client() as client:
            launch = await client.create_flow_run(_launch_stand_in, tags=["emufleet", group_tag(group)])
            bots = [await client.create_flow_run(_bot_stand_in, tags=["emufleet", group_tag(group)])
                    for _ in (0, 1)]
            for index, run in enumerate(bots):
                await client.update_flow_run_labels(run.id, {"emufleet.group": group, "emufleet.bot": index})
            return str(launch.id), [str(r.id) for r in (launch, *bots)]

    launch, run_ids = asyncio.run(runs())
    store = CommandStore(eng)
    store.open(launch)
    stop = threading.Event()
    taken: dict[str, list[Command]] = {"bot0-a": [], "bot0-b": [], "bot1": []}
    takers = [threading.Thread(target=_taker, args=(store, launch, bot, stop, taken[name]))
              for name, bot in (("bot0-a", 0), ("bot0-b", 0), ("bot1", 1))]  # two watchers race for bot 0
    for thread in takers:
        thread.start()
    senders = [subprocess.Popen([sys.executable, "-c", _SENDER, group, str(PER_SENDER), f"process-{i}"], cwd=REPO,
                                env={**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}) for i in range(4)]
    try:
        asyncio.run(_console_sends(served.url, group))
        assert [p.wait(timeout=120) for p in senders] == [0] * 4
    finally:
        for p in senders:
            if p.poll() is None:
                p.kill()
                p.wait()
        stop.set()
        for thread in takers:
            thread.join(timeout=60)

    sent = store.since(launch)
    assert [c.seq for c in sent] == list(range(1, 5 * PER_SENDER + 1)), "numbered 1…200, no gap, no repeat"
    by_source = Counter(c.source for c in sent)
    assert by_source == {**{f"process-{i}": PER_SENDER for i in range(4)}, "console": PER_SENDER}
    assert Counter(c.kind for c in sent) == {CommandKind.PAUSE: 100, CommandKind.RESUME: 50,
                                             CommandKind.RESTART_APP: 50}
    bot0 = taken["bot0-a"] + taken["bot0-b"]
    assert sorted(c.seq for c in bot0) == [c.seq for c in sent if c.bot is None], "bot 0: each launch-wide once"
    assert [c.seq for c in taken["bot1"]] == [c.seq for c in sent], "bot 1: every command once, in order"
    for name in ("bot0-a", "bot0-b"):
        seqs = [c.seq for c in taken[name]]
        assert seqs == sorted(seqs), f"{name} took its commands in order"
    # the launch ended: its channel goes, with its commands and cursors; a late sender is refused, naming it
    assert store.close([launch]) == 1 and store.since(launch) == []
    with pytest.raises(OrchestrationError, match=launch):
        store.send(launch, CommandKind.PAUSE)

    async def cleanup() -> None:
        async with get_client() as client:
            for run_id in run_ids:
                await client.delete_flow_run(run_id)

    asyncio.run(cleanup())
    eng.dispose()
