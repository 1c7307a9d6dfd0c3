"""Hosts as data: the registry (hosts/*.yaml, the implicit local host), instance identity, and groups naming
instances on hosts."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emufleet.errors import GroupValidationError, HostValidationError
from emufleet.groups import GroupStore, load_group
from emufleet.hosts import LOCAL_HOST, Host, HostStore, InstanceId, Placement, parse_placement, this_host


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_one_host_setup_needs_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EMUFLEET_HOST", raising=False)
    store = HostStore(tmp_path / "missing")
    assert list(store.list().hosts) == [LOCAL_HOST] and store.list().errors == []
    local = store.get("local")
    assert local.is_local and local.queue == "local"
    assert local.backend_for("simulator", {"instances": 4}) == ("simulator", {"instances": 4})  # the group's


def test_hosts_load_and_a_broken_file_hides_nothing(tmp_path: Path) -> None:
    write(tmp_path, "hostb", "version: 1\nname: hostb\nbackend: mumu\nbackend_options: {base_port: 16384}\n")
    write(tmp_path, "hostc", "name: hostc\nwork_queue: night\n")
    broken = write(tmp_path, "hostd", "name: hostd\nbackend: mumu\nbackend_optons: {}\n")
    listing = HostStore(tmp_path).list()
    assert list(listing.hosts) == ["hostb", "hostc", "local"]
    assert listing.hosts["hostc"].queue == "night" and listing.hosts["hostb"].queue == "hostb"
    (error,) = listing.errors
    assert str(error).startswith(f"{broken}:3:1: backend_optons") and "unknown key" in str(error)
    with pytest.raises(HostValidationError, match="backend_optons"):
        HostStore(tmp_path).get("hostd")  # asked for by name: its own error, not "no such host"
    with pytest.raises(HostValidationError, match=r"no host named 'nope' .*known: hostb, hostc, local"):
        HostStore(tmp_path).get("nope")


@pytest.mark.parametrize(("text", "where", "message"), [
    ("name: two words\n", ":1:7: name", "host name"),
    ("name: x\nbackend_options: {a: 1}\n", ":1:1", "backend_options without a backend"),
    ("name: x\nname: y\n", ":2:1", "duplicate key"),
    ("- name: x\n", ":1:1", "a host definition is a mapping"),
])
def test_bad_host_files_are_located(tmp_path: Path, text: str, where: str, message: str) -> None:
    path = write(tmp_path, "bad", text)
    (error,) = HostStore(tmp_path).list().errors
    assert str(error).startswith(f"{path}{where}") and message in str(error), str(error)


def test_host_backend_overrides_the_groups() -> None:
    host = Host(name="hostb", backend="mumu", backend_options={"base_port": 16416})
    assert host.backend_for("mumu", {"base_port": 16384, "x": 1}) == ("mumu", {"base_port": 16416, "x": 1})
    assert host.backend_for("simulator", {"instances": 4}) == ("mumu", {"base_port": 16416})


def test_this_host_names_the_local_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EMUFLEET_HOST", "hosta")
    assert this_host() == "hosta" and HostStore(tmp_path).get("hosta").is_local
    assert not HostStore(tmp_path).get("local").is_local
    monkeypatch.setenv("EMUFLEET_HOST", "bad/name")
    with pytest.raises(ValueError, match="host name"):
        this_host()


def test_instance_identity() -> None:
    a, b = InstanceId("hosta", "127.0.0.1:16384"), InstanceId("hostb", "127.0.0.1:16384")
    assert a != b and len({a, b}) == 2 and a.key == "hosta/127.0.0.1:16384" == str(a)
    assert InstanceId.parse("hostb/127.0.0.1:16384") == b
    assert InstanceId.parse("127.0.0.1:16384") == InstanceId(LOCAL_HOST, "127.0.0.1:16384")
    for bad in (("hosta", ""), ("hosta", "a/b"), ("two words", "x")):
        with pytest.raises(ValueError):
            InstanceId(*bad)


@pytest.mark.parametrize(("value", "expected"), [
    (3, Placement("local", 3)),
    ("127.0.0.1:16448", Placement("local", "127.0.0.1:16448")),
    ("hostb/2", Placement("hostb", 2)),
    ("hostb/127.0.0.1:16384", Placement("hostb", "127.0.0.1:16384")),
    ({"host": "hostb", "instance": 3}, Placement("hostb", 3)),
    ({"instance": "127.0.0.1:5555"}, Placement("local", "127.0.0.1:5555")),
])
def test_placements(value: object, expected: Placement) -> None:
    assert parse_placement(value) == expected


@pytest.mark.parametrize("value", [-1, True, 1.5, "hostb/", "bad host/1", {"host": "hostb"},
                                   {"host": "hostb", "instance": 1, "port": 2}, "hostb/-1"])
def test_bad_placements(value: object) -> None:
    with pytest.raises(ValueError):
        parse_placement(value)


GROUP = """version: 1
name: spread
routine: demo/account_cycle
backend: simulator
host: hosta
instances:
  - 0
  - hostb/0
  - {host: hostb, instance: 1}
  - local/127.0.0.1:16384
bots: 4
"""


def test_groups_name_instances_on_hosts_and_stay_back_compatible(tmp_path: Path) -> None:
    write(tmp_path, "spread", GROUP)
    group = GroupStore(tmp_path).get("spread")
    assert group.placements() == [Placement("hosta", 0), Placement("hostb", 0), Placement("hostb", 1),
                                  Placement("local", "127.0.0.1:16384")]
    saved = GroupStore(tmp_path / "out").save(group)  # written back as it was written
    assert GroupStore(tmp_path / "out").get("spread").instances == group.instances
    assert "- hostb/0" in saved.read_text(encoding="utf-8")
    write(tmp_path, "old", GROUP.replace("name: spread", "name: old").replace("host: hosta\n", "")
          .split("instances:")[0] + "instances: [0, 1, '127.0.0.1:16448']\nbots: 2\n")
    assert GroupStore(tmp_path).get("old").placements() == [Placement("local", 0), Placement("local", 1),
                                                            Placement("local", "127.0.0.1:16448")]


@pytest.mark.parametrize(("instances", "where", "message"), [
    ("[0, hostb/0, {host: hostb, instance: 0}]", ":5:12: instances", "instance hostb/0 is listed twice"),
    ("[0, 'bad host/1']", ":5:12: instances", "host name 'bad host'"),
    ("[{host: hostb}]", ":5:13: instances[0]", "instances[0].instance: Field required"),
])
def test_bad_instances_are_located(tmp_path: Path, instances: str, where: str, message: str) -> None:
    path = write(tmp_path, "g", GROUP.replace("host: hosta\n", "").split("instances:")[0]
                 + f"instances: {instances}\nbots: 1\n")
    with pytest.raises(GroupValidationError) as info:
        load_group(path)
    assert str(info.value).startswith(f"{path}{where}") and message in str(info.value), str(info.value)


def test_cli_lists_hosts_and_reports_broken_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from emufleet.cli import app

    monkeypatch.setenv("EMUFLEET_HOME", str(tmp_path))
    monkeypatch.delenv("EMUFLEET_HOST", raising=False)
    write(tmp_path / "hosts", "hostb", "name: hostb\nbackend: mumu\n")
    result = CliRunner().invoke(app, ["hosts", "list"])
    assert result.exit_code == 0 and "hostb" in result.stdout and "local (this host)" in result.stdout
    write(tmp_path / "hosts", "bad", "name: [x]\n")
    result = CliRunner().invoke(app, ["hosts", "list"])
    assert result.exit_code == 1 and "bad.yaml:1:7: name" in result.stderr


def test_an_instance_field_reads_a_key_or_a_bare_serial_and_dumps_the_key() -> None:
    from pydantic import ValidationError

    from emufleet.groups import BotStatus

    remote = BotStatus(group="g", bot=0, instance="hostb/127.0.0.1:16384")  # type: ignore[arg-type]
    assert remote.instance == InstanceId("hostb", "127.0.0.1:16384") and remote.host == "hostb"
    assert BotStatus(group="g", bot=0, instance="127.0.0.1:16384").instance.host == LOCAL_HOST  # type: ignore[arg-type]
    assert remote.model_dump()["instance"] == remote.model_dump(mode="json")["instance"] == "hostb/127.0.0.1:16384"
    assert BotStatus.model_validate(remote.model_dump()) == BotStatus.model_validate_json(remote.model_dump_json())
    assert BotStatus.model_json_schema()["properties"]["instance"]["type"] == "string"  # a text box in the UI form
    for bad, why in (("bad host/1", "host name 'bad host'"), ("hostb/", "serial ''"), (3, "not int")):
        with pytest.raises(ValidationError, match=why) as info:
            BotStatus.model_validate({"group": "g", "bot": 0, "instance": bad})
        assert info.value.errors()[0]["loc"] == ("instance",)


def test_a_bot_record_survives_its_flow_run_labels() -> None:
    """The labels hold flat values only: lists and mappings go as JSON text and come back as they were."""
    from uuid import uuid4

    from prefect.client.schemas.objects import FlowRun

    from adapters.registry import bot_status, status_labels
    from emufleet.groups import BotState, BotStatus

    status = BotStatus(group="g", bot=2, instance=InstanceId("hostb", "127.0.0.1:16416"), state=BotState.FAILED,
                       recoveries={"restart_app": 2, "routine": 1}, errors=["WaitForImage timed out", "adb: gone"],
                       attempts=3, wall_s=12.5, gave_up="failure budget spent", error=None)
    labels = status_labels(status)
    assert all(isinstance(v, str | int | float | bool) for v in labels.values())
    assert labels["emufleet.instance"] == "hostb/127.0.0.1:16416" and labels["emufleet.error"] == ""
    back = bot_status(FlowRun(flow_id=uuid4(), labels=labels))
    assert back == status and back.recoveries_total == 3
