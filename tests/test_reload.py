"""Hot reload with rollback (emufleet.reload, ``emufleet reload``, the console's banner): a broken routine is
rejected with its line while a running bot goes on with the last good version, fixing it reloads at the bot's next
attempt, and going back is one command. Real files, a real watcher (watchfiles), the simulator through the real adb
server for the running bot."""

from __future__ import annotations

import asyncio
import re
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from emufleet.bot import BotEvent, BotSession, BotSpec, EngineAssets
from emufleet.bot.health import HealthSettings
from emufleet.cli import app
from emufleet.groups import BotState, BotStatus, RestartPolicy
from emufleet.groups.definition import RestartMode
from emufleet.reload import KEEP, ConfigWatcher, LiveAssets, Reloader, Report, VersionStore, version_of
from emufleet.routines import RoutineRegistry
from emufleet.vision import TemplateSet

REPO = Path(__file__).resolve().parents[1]


def routine(message: str, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        version: 1
        routine_name: reloaded loop
        steps:
          - {{action: Notify, message: "{message}", screenshot: false}}
          - {{action: Sleep, duration: 150ms}}
        """) + extra


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project root: the shipped templates (linked), one routine, a group, a pool and a host; its own state."""
    root = tmp_path / "home"
    for name in ("routines/t", "groups", "pools", "hosts"):
        (root / name).mkdir(parents=True)
    (root / "templates").symlink_to(REPO / "templates", target_is_directory=True)
    (root / "routines" / "t" / "loop.yaml").write_text(routine("v1"), encoding="utf-8")
    (root / "groups" / "g.yaml").write_text(yaml.safe_dump({"version": 1, "name": "g", "routine": "t/loop",
                                                            "instances": [0], "bots": 1}), encoding="utf-8")
    (root / "pools" / "p.yaml").write_text((REPO / "pools" / "demo.yaml").read_text(encoding="utf-8"),
                                           encoding="utf-8")
    (root / "hosts" / "hostb.yaml").write_text("version: 1\nname: hostb\n", encoding="utf-8")
    monkeypatch.setenv("EMUFLEET_HOME", str(root))
    monkeypatch.setenv("EMUFLEET_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(root)
    return root


def reload(*args: str) -> Any:
    return CliRunner().invoke(app, ["reload", *args])


def test_the_version_store_keeps_the_last_good_versions(tmp_path: Path) -> None:
    store = VersionStore(tmp_path / "store")
    for i in range(KEEP + 2):
        store.record("routines/x.yaml", f"v{i}".encode())
    history = store.history("routines/x.yaml")
    assert [v.version for v in history] == [version_of(f"v{i}".encode()) for i in range(2, KEEP + 2)]
    assert len(list((tmp_path / "store" / "blobs").iterdir())) == KEEP, "the dropped versions' blobs are deleted"
    newest = f"v{KEEP + 1}".encode()
    assert store.rollback_target("routines/x.yaml", newest).version == history[-2].version
    assert store.rollback_target("routines/x.yaml", b"broken").version == history[-1].version
    assert store.content(history[0].version) == b"v2"


def test_reload_rejects_a_broken_routine_by_line_and_rolls_back(home: Path) -> None:
    first = reload()
    assert first.exit_code == 0, first.output
    assert "reloaded routines/t/loop.yaml" in first.output and "reloaded groups/g.yaml" in first.output
    assert "reloaded templates/registry.yaml" in first.output
    assert reload().output.strip() == "nothing changed"
    path = home / "routines" / "t" / "loop.yaml"
    good = path.read_bytes()
    path.write_text(routine("v1").replace("action: Sleep", "action: Slep"), encoding="utf-8")
    broken = reload()
    assert broken.exit_code == 1, broken.output
    assert f"rejected routines/t/loop.yaml (last good {version_of(good)} keeps running)" in broken.output
    assert re.search(rf"{re.escape(str(path))}:5:\d+: steps\[1\]: unknown action 'Slep'", broken.output), \
        broken.output
    back = reload("--rollback", "routines/t/loop.yaml")
    assert back.exit_code == 0 and path.read_bytes() == good and "nothing changed" in back.output
    path.write_text(routine("v2"), encoding="utf-8")
    assert reload().exit_code == 0
    again = reload("--rollback", "routines/t/loop.yaml")  # the current content is the newest good: the one before
    assert path.read_bytes() == good, again.output
    history = reload("--history", "routines/t/loop.yaml").output.splitlines()
    # newest first: the version rolled back to is the running one again, v2 is kept behind it
    assert [line.split()[0] for line in history] == [version_of(good), version_of(routine("v2").encode())]


def test_a_fix_recorded_first_by_another_process_still_reaches_a_running_launch(home: Path) -> None:
    """`emufleet reload` may record a fixed routine before the launch's watcher checks (its debounce): the launch's
    reloader must still report it, or the bot plays the old version until the next edit."""
    launch = Reloader(home)
    assert launch.check().results, "the baseline is recorded"
    path = home / "routines" / "t" / "loop.yaml"
    path.write_text(routine("v2").replace("action: Sleep", "action: Slep"), encoding="utf-8")
    (broken,) = launch.check().results
    assert broken.status == "rejected"
    path.write_text(routine("v2"), encoding="utf-8")
    assert reload().exit_code == 0, "the command records the fix first"
    (fixed,) = launch.check().results
    assert (fixed.key, fixed.status) == ("routines/t/loop.yaml", "reloaded")
    assert fixed.version == version_of(path.read_bytes())
    assert fixed.previous == version_of(routine("v1").encode())
    assert launch.check().results == [], "reported once"


def test_groups_pools_and_hosts_are_checked_with_located_errors(home: Path) -> None:
    assert reload().exit_code == 0
    (home / "groups" / "g.yaml").write_text("version: 1\nname: g\nroutine: t/loop\ninstances: [0]\nbots: many\n",
                                            encoding="utf-8")
    (home / "pools" / "p.yaml").write_text("version: 1\npool_name: p\nqueries: 3\n", encoding="utf-8")
    (home / "hosts" / "hostb.yaml").write_text("version: 1\nname: hostb\nadb_port: x\n", encoding="utf-8")
    (home / "groups" / "other.yaml").write_text("version: 1\nname: other\nroutine: t/nope\ninstances: [0]\nbots: 1\n",
                                                encoding="utf-8")
    (home / "routines" / "t" / "counted.yaml").write_text(
        "version: 1\nconfig:\n  - {name: packs, type: number, default: '1', min: 1, max: 20}\n"
        "steps:\n  - {action: Sleep, duration: 10ms}\n", encoding="utf-8")
    (home / "groups" / "counted.yaml").write_text("version: 1\nname: counted\nroutine: t/counted\n"
                                                  "routine_config: {packs: '99'}\ninstances: [0]\nbots: 1\n",
                                                  encoding="utf-8")
    result = reload()
    assert result.exit_code == 1
    assert f"{home / 'groups' / 'other.yaml'}:3:10: routine: no routine 't/nope'" in result.output, result.output
    assert re.search(rf"{re.escape(str(home / 'groups' / 'counted.yaml'))}:4:\d+: routine_config: invalid_config",
                     result.output), result.output
    assert "rejected routines/t/counted.yaml" not in result.output, "the routine itself is fine"
    for key, line in (("groups/g.yaml", 5), ("pools/p.yaml", 3), ("hosts/hostb.yaml", 3)):
        assert f"rejected {key}" in result.output
        assert re.search(rf"{re.escape(str(home / key))}:{line}:\d+: \w+", result.output), result.output
    assert "routines/t/loop.yaml" not in result.output, "one bad file does not take the others down"


def test_the_console_shows_a_banner_for_a_rejected_file(home: Path) -> None:
    from starlette.testclient import TestClient

    from console import ConsoleConfig, create_app
    from emufleet import db

    (home / "routines" / "t" / "loop.yaml").write_text("version: 1\nsteps:\n  - {action: Clik}\n", encoding="utf-8")
    engine = db.engine(f"sqlite:///{home.parent / 'state' / 'emufleet.db'}", create=True)
    db.upgrade(engine)
    with TestClient(create_app(ConsoleConfig(live_interval_s=5), engine=engine), base_url="http://127.0.0.1") as client:
        client.app.state.reload.watcher.ready.wait(30)  # type: ignore[attr-defined]
        state = client.get("/api/reload").json()
        page = client.get("/routines").text
    engine.dispose()
    (rejected,) = state["rejected"]
    assert rejected["file"] == "routines/t/loop.yaml" and rejected["running"] is None
    assert re.match(r".*loop\.yaml:3:5: steps\[0\]: unknown action 'Clik'", rejected["errors"][0])
    assert "routines/t/loop.yaml was rejected" in page and "unknown action" in page


class Notes:
    """A BotObserver that keeps the routine's Notify messages in order."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.changed = threading.Condition()

    def status(self, status: BotStatus) -> None:
        pass

    def event(self, event: BotEvent) -> None:
        if event.kind.value == "bot.notify":
            with self.changed:
                self.messages.append(str(event.payload["message"]))
                self.changed.notify_all()

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[Any]) -> None:
        pass

    def progress(self, done: int, total: int) -> None:
        pass

    def wait(self, ready: Callable[[list[str]], bool], what: str) -> list[str]:
        with self.changed:
            assert self.changed.wait_for(lambda: ready(self.messages), timeout=60), f"{what}: {self.messages}"
            return list(self.messages)


@pytest.fixture
def running_bot(home: Path, simulator: Callable[..., Any]) -> Iterator[tuple[Notes, list[Report]]]:
    """A bot playing routines/t/loop.yaml again and again (restart policy always) on a demo instance, with its
    launch's hot reload: LiveAssets kept current by a ConfigWatcher that records good versions."""
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    templates = TemplateSet.load(home / "templates" / "registry.yaml")
    live = LiveAssets(EngineAssets(templates, RoutineRegistry.load(home / "routines", templates)), home=home)
    reports: list[Report] = []

    def on_report(report: Report, first: bool) -> None:
        live.apply(report)
        reports.append(report)

    watcher = ConfigWatcher(Reloader(home), on_report, fallback=live).start()
    assert watcher.ready.wait(30)
    notes = Notes()
    spec = BotSpec(group="g", bot=0, instance=inst.serial, routine="t/loop", health=HealthSettings(interval=5),
                   restart_policy=RestartPolicy(mode=RestartMode.ALWAYS, max_restarts=1000, initial_delay=0.01,
                                                max_delay=0.01))
    executor = ThreadPoolExecutor(8)
    loop = asyncio.new_event_loop()
    done: list[BotStatus] = []

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    session = BotSession(spec, live, call=call, observer=notes, on_attempt=live.at_attempt)
    thread = threading.Thread(target=lambda: done.append(loop.run_until_complete(session.run())))
    thread.start()
    try:
        yield notes, reports
    finally:
        loop.call_soon_threadsafe(session.stop)
        thread.join(30)
        watcher.stop()
        executor.shutdown(wait=True)
        loop.close()
    assert done and done[0].state is BotState.STOPPED


@pytest.mark.slow
def test_a_running_bot_keeps_the_last_good_version_and_takes_the_fixed_one(home: Path, running_bot: Any) -> None:
    notes, reports = running_bot
    notes.wait(lambda m: m.count("v1") >= 2, "the bot plays v1")
    path = home / "routines" / "t" / "loop.yaml"
    path.write_text(routine("v2").replace("action: Sleep", "action: Slep"), encoding="utf-8")
    broken = reload()
    assert broken.exit_code == 1 and re.search(r"loop\.yaml:5:\d+: steps\[1\]: unknown action", broken.output)
    seen = len(notes.messages)
    notes.wait(lambda m: len(m) >= seen + 3, "the bot goes on")
    assert set(notes.messages[seen:]) == {"v1"}, "the rejected edit never reached the bot"
    path.write_text(routine("v2"), encoding="utf-8")
    fixed = reload()
    assert fixed.exit_code == 0 and "reloaded routines/t/loop.yaml" in fixed.output, fixed.output
    messages = notes.wait(lambda m: m[-2:] == ["v2", "v2"], "the fixed routine reaches the bot")
    first_v2 = messages.index("v2")
    assert set(messages[:first_v2]) == {"v1"} and set(messages[first_v2:]) == {"v2"}, "whole attempts only"
    assert any(r.rejected for r in reports), "the watcher saw the rejection too"


def wait_until(ready: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    """Wait on a condition the watcher's thread makes true."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


TAGGED = textwrap.dedent("""\
    version: 1
    routine_name: tagged loop
    config:
      - {name: tag, type: text, default: "d"}
    steps:
      - {action: Notify, message: "${tag}", screenshot: false}
      - {action: Sleep, duration: 150ms}
    """)


def group_file(tag: str, bots: object = 1) -> str:
    return yaml.safe_dump({"version": 1, "name": "g", "routine": "t/tagged", "routine_config": {"tag": tag},
                           "instances": [0, 1], "bots": bots,
                           "launch": {"restart_policy": {"mode": "always", "max_restarts": 1000,
                                                         "initial_delay": 0.01, "max_delay": 0.01}}})


@pytest.mark.slow
@pytest.mark.prefect
def test_a_running_launch_takes_group_pool_and_host_edits_at_their_boundaries(
        home: Path, simulator: Callable[..., Any], caplog: pytest.LogCaptureFixture, prefect_server: Any) -> None:
    """The launch's own LiveReload (adapters.reloading): a group edit reaches the running bot at its next attempt
    (routine config; its bot count is left to the next launch), a broken group file changes nothing, a pool edit
    reaches the launch's pool and its bots' views, a host edit the launch's load thresholds; each good edit is an
    event on the session's Prefect server saying where it applies."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter
    from sqlalchemy import create_engine

    from adapters.reloading import LiveReload
    from adapters.resources import LaunchLoad
    from emufleet.groups import load_group
    from emufleet.hosts import load_host
    from emufleet.pools import Pool, PoolDefinition
    from emufleet.pools.leases import LeaseOwner
    from emufleet.reload.group import LiveGroup

    caplog.set_level("INFO", logger="emufleet.reload.group")
    (home / "routines" / "t" / "tagged.yaml").write_text(TAGGED, encoding="utf-8")
    (home / "groups" / "g.yaml").write_text(group_file("g1"), encoding="utf-8")
    (home / "pools" / "p.yaml").write_text("version: 1\npool_name: p\ninclude: [a@x.invalid]\n"
                                           "config: {lease_ttl: 300}\n", encoding="utf-8")
    inst = simulator(instances=1, scenario="demo").instances[0]
    inst.set_state("home_ready")
    templates = TemplateSet.load(home / "templates" / "registry.yaml")
    group = LiveGroup(load_group(home / "groups" / "g.yaml"))
    run_id = uuid.uuid4()
    live = LiveReload(EngineAssets(templates, RoutineRegistry.load(home / "routines", templates)), run_id,
                      group=group)
    engine = create_engine("sqlite://")
    pool = Pool(PoolDefinition.load(home / "pools" / "p.yaml"), engine, LeaseOwner("launch"))
    view = pool.for_owner(LeaseOwner("launch", inst.serial))
    load = LaunchLoad(load_host(home / "hosts" / "hostb.yaml"), "g", run_id)
    live.pools, live.load = (lambda: [pool]), load
    live.start()
    assert live.watcher.ready.wait(30)
    notes = Notes()
    spec = group.respec(BotSpec(group="g", bot=0, instance=inst.serial, routine="?", health=HealthSettings(interval=5)))
    assert spec.routine == "t/tagged" and spec.routine_config == {"tag": "g1"}
    executor = ThreadPoolExecutor(8)
    loop = asyncio.new_event_loop()
    done: list[BotStatus] = []

    async def call(fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, lambda: fn(*args))

    session = BotSession(spec, live.assets, call=call, observer=notes, on_attempt=live.at_attempt)
    thread = threading.Thread(target=lambda: done.append(loop.run_until_complete(session.run())))
    thread.start()
    try:
        notes.wait(lambda m: m.count("g1") >= 2, "the bot plays the group's config")
        (home / "groups" / "g.yaml").write_text(group_file("g2", bots=2), encoding="utf-8")
        messages = notes.wait(lambda m: m[-2:] == ["g2", "g2"], "the group edit reaches the running bot")
        first = messages.index("g2")
        assert set(messages[:first]) == {"g1"} and set(messages[first:]) == {"g2"}, "whole attempts only"
        assert "groups/g.yaml reloaded: next attempt: routine_config; next launch: bots" in caplog.text
        assert group.definition.bots == 2 and session.spec.routine_config == {"tag": "g2"}

        (home / "groups" / "g.yaml").write_text(group_file("g3", bots="many"), encoding="utf-8")
        wait_until(lambda: live.watcher.last is not None and bool(live.watcher.last.rejected), "rejected")
        seen = len(notes.messages)
        notes.wait(lambda m: len(m) >= seen + 3, "the bot goes on")
        assert set(notes.messages[seen:]) == {"g2"}, "the broken group file never reached the bot"

        (home / "pools" / "p.yaml").write_text("version: 1\npool_name: p\ninclude: [a@x.invalid, b@x.invalid]\n"
                                               "config: {lease_ttl: 120}\n", encoding="utf-8")
        wait_until(lambda: view.definition.config.lease_ttl == 120, "the pool edit reaches the bot's view")
        assert pool.definition.include == ["a@x.invalid", "b@x.invalid"]
        (home / "hosts" / "hostb.yaml").write_text("version: 1\nname: hostb\nresources: {max_cpu_percent: 80}\n",
                                                   encoding="utf-8")
        wait_until(lambda: load.monitor.settings.max_cpu_percent == 80, "the host edit reaches the load gate")
        assert load.host.resources.max_cpu_percent == 80
    finally:
        loop.call_soon_threadsafe(session.stop)
        thread.join(30)
        live.watcher.stop()
        executor.shutdown(wait=True)
        loop.close()
        engine.dispose()
    assert done and done[0].state is BotState.STOPPED
    from tests.flows.test_events import read_events

    events = read_events(EventFilter(event=EventNameFilter(name=["emufleet.config.reloaded"]),
                                     related=EventRelatedFilter(id=[f"prefect.flow-run.{run_id}"])), 4)
    applies = {e.payload["file"]: e.payload["applies"] for e in events}
    assert applies == {"groups/g.yaml": "next attempt: routine_config; next launch: bots",
                       "pools/p.yaml": "next account checked out",
                       "hosts/hostb.yaml": "resource thresholds from the next sample; the rest at the next launch"}
