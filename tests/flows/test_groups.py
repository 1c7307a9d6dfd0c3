"""Group definitions: validation located at file:line:col, overrides, restart-policy arithmetic, the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from emufleet.errors import GroupValidationError
from emufleet.groups import (
    GroupDefinition,
    GroupStore,
    LaunchOverrides,
    OnConflict,
    RestartMode,
    RestartPolicy,
    load_group,
)

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
version: 1
name: farmers
routine: demo/account_cycle
routine_config: {packs: 2, fast: true}
instances: [0, 1, "127.0.0.1:5555"]
bots: 2
pools: [demo]
launch:
  on_conflict: abort
  stagger: 500ms
  emulator_timeout: 2m
  restart_policy: {mode: always, max_restarts: 3, initial_delay: 1s, max_delay: 4s, backoff_factor: 3}
"""


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_definition_parses_durations_and_config(tmp_path: Path) -> None:
    group = load_group(write(tmp_path, GOOD))
    assert group.instances == [0, 1, "127.0.0.1:5555"]
    assert group.routine_config == {"packs": "2", "fast": "true"}
    assert group.launch.on_conflict is OnConflict.ABORT
    assert group.launch.stagger == pytest.approx(0.5)
    assert group.launch.emulator_timeout == pytest.approx(120.0)
    assert group.launch.restart_policy.mode is RestartMode.ALWAYS


@pytest.mark.parametrize(("text", "where", "field"), [
    (GOOD.replace("bots: 2", "bots: 4"), ":1:1:", "bots (4) exceeds"),
    (GOOD.replace("on_conflict: abort", "on_conflict: later"), ":9:16:", "launch.on_conflict"),
    (GOOD.replace("[0, 1,", "[0, 0,"), ":5:12:", "listed twice"),
    (GOOD.replace("demo/account_cycle", "demo/account_cycle.yaml"), ":3:10:", "no extension"),
    (GOOD + "colour: red\n", ":13:1:", "colour: unknown key"),
    (GOOD.replace("stagger: 500ms", "stagger: soon"), ":10:12:", "launch.stagger"),
    (GOOD.replace("initial_delay: 1s", "initial_delay: 9s"), ":12:", "initial_delay must not exceed"),
])
def test_bad_definitions_are_located(tmp_path: Path, text: str, where: str, field: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(GroupValidationError) as info:
        load_group(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert where in message
    assert field in message


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GroupValidationError, match=r":3:1: .*duplicate key 'name'"):
        load_group(write(tmp_path, "name: a\nroutine: r\nname: b\n"))


def test_overrides_merge_config_and_reach_launch_options(tmp_path: Path) -> None:
    group = load_group(write(tmp_path, GOOD))
    policy = RestartPolicy(mode=RestartMode.NEVER, max_restarts=0)
    out = group.with_overrides(LaunchOverrides(
        instances=[1], routine_config={"packs": "5", "extra": "x"}, pools=["other"], stagger=0,
        restart_policy=policy, max_accounts=7, backend="adb", backend_options={"base_port": 20000}))
    assert out.instances == [1] and out.bots == 1  # bot count follows a shorter instance list
    assert out.routine_config == {"packs": "5", "fast": "true", "extra": "x"}
    assert out.pools == ["other"] and out.max_accounts == 7
    assert out.launch.stagger == 0 and out.launch.restart_policy == policy
    assert out.backend == "adb" and out.backend_options == {"base_port": 20000}
    merged = group.with_overrides(LaunchOverrides(backend_options={"count": 2}))
    assert merged.backend == group.backend and merged.backend_options == {**group.backend_options, "count": 2}
    assert group.with_overrides(None) is group
    with pytest.raises(ValueError, match="exceeds"):
        group.with_overrides(LaunchOverrides(bots=3, instances=[0, 1]))


def test_restart_policy_backoff_and_cap() -> None:
    policy = RestartPolicy(mode=RestartMode.ON_FAILURE, max_restarts=3, initial_delay=1, max_delay=5,
                           backoff_factor=2)
    assert [policy.delay_s(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert policy.should_restart(succeeded=False, restarts_done=2)
    assert not policy.should_restart(succeeded=False, restarts_done=3)  # the cap
    assert not policy.should_restart(succeeded=True, restarts_done=0)
    always = policy.model_copy(update={"mode": RestartMode.ALWAYS})
    assert always.should_restart(succeeded=True, restarts_done=0)
    never = policy.model_copy(update={"mode": RestartMode.NEVER})
    assert not never.should_restart(succeeded=False, restarts_done=0)


def test_store_save_list_get_delete(tmp_path: Path) -> None:
    store = GroupStore(tmp_path / "groups")
    group = load_group(write(tmp_path, GOOD))
    path = store.save(group.model_copy(update={"name": "night shift"}))
    assert path.name == "night_shift.yaml"
    again = store.get("night shift")
    assert again.instances == group.instances and again.updated_at is not None
    with pytest.raises(GroupValidationError, match="already exists"):
        store.save(again)
    write(store.folder, "name: broken\n", "broken.yaml")
    listing = store.list()
    assert list(listing.groups) == ["night shift"]
    assert len(listing.errors) == 1 and "broken.yaml" in str(listing.errors[0])
    with pytest.raises(GroupValidationError, match="no group named 'nope'.*known: night shift"):
        store.get("nope")
    store.delete("night shift")
    assert not path.exists()


def test_shipped_groups_are_valid() -> None:
    listing = GroupStore(REPO / "groups").list()
    assert not listing.errors, listing.errors
    demo = listing.groups["demo"]
    assert demo.bots == 4 and demo.routine == "demo/account_cycle"
    assert demo.launch.restart_policy.mode is RestartMode.ON_FAILURE
    assert isinstance(demo, GroupDefinition)
