"""Record the demo routine on the simulator (through the real adb server) and replay it offline: no divergence;
then with one template's region moved so it can no longer match, the replay names that step as the divergence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from emufleet.cli import app
from emufleet.errors import SessionFormatError
from emufleet.sessions import Session, assert_replays

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, adb_server: Any) -> Path:
    """demo/reach_home recorded from the launcher to the calm home screen (one simulator for the module)."""
    from emufleet.sim import Simulator
    from emufleet.sim.adbserver import find_free_base_port
    from tests.conftest import connect_serial

    folder = tmp_path_factory.mktemp("session") / "reach_home"
    sim = Simulator(instances=1, scenario="demo", base_port=find_free_base_port())
    sim.start()
    try:
        inst = sim.instances[0]
        connect_serial(adb_server, inst.serial)
        result = CliRunner().invoke(app, ["routines", "run", "demo/reach_home", "--serial", inst.serial,
                                          "--set", "settle_checks=5", "--record", str(folder)])
        assert result.exit_code == 0, result.output
        assert inst.state == "home_ready"
        assert f"session recorded: {folder}" in result.stderr
        adb_server.disconnect(inst.serial)
    finally:
        sim.stop()
    return folder


def test_the_recorded_session_is_plain_json_lines_and_pngs(recorded: Path) -> None:
    lines = [json.loads(line) for line in (recorded / "session.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "session" and lines[0]["version"] == 1 and lines[0]["routine"] == "demo/reach_home"
    frames = [e for e in lines if e["type"] == "frame"]
    taps = [e for e in lines if e["type"] == "input" and e["kind"] == "tap"]
    assert taps and all(e["step"]["routine"] == "demo/reach_home" for e in taps)
    assert lines[-1]["type"] == "end" and lines[-1]["reason"] == "finished"
    files = sorted(p.stem for p in (recorded / "frames").iterdir())
    assert sorted({e["frame"] for e in frames}) == files, "every distinct frame stored once, named by its hash"
    assert len(files) < len(frames), "repeated captures of one screen share a file"
    times = [e["t"] for e in lines[1:]]
    assert times == sorted(times)


def test_the_routine_replays_its_session_without_divergence(recorded: Path) -> None:
    result = CliRunner().invoke(app, ["sessions", "replay", str(recorded), "demo/reach_home",
                                      "--set", "settle_checks=5"])
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    session = Session(recorded)
    steps, inputs, frames, divergences = (int(part.split("=")[1]) for part in last.split())
    assert divergences == 0 and steps > 0 and frames > 0
    assert inputs == sum(1 for e in session.inputs if e.by == "routine"), "every input of the routine was replayed"
    again = CliRunner().invoke(app, ["sessions", "replay", str(recorded), "demo/reach_home",
                                     "--set", "settle_checks=5"])
    assert again.stdout == result.stdout, "a replay is deterministic"
    report = assert_replays(recorded, "demo/reach_home", routines=REPO / "routines",
                            templates=REPO / "templates" / "registry.yaml", overrides={"settle_checks": 5})
    assert report.summary() == last


def test_a_template_that_no_longer_matches_is_named_as_the_first_divergence(recorded: Path, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    registry = yaml.safe_load((templates / "registry.yaml").read_text())
    entry = next(t for t in registry["templates"] if t["name"] == "TapToStart")
    entry["region"] = {"x1": 98, "y1": 60, "x2": 179, "y2": 98}  # where the title screen has no such button
    (templates / "registry.yaml").write_text(yaml.safe_dump(registry, sort_keys=False))
    out = tmp_path / "overlay"
    result = CliRunner().invoke(app, ["sessions", "replay", str(recorded), "demo/reach_home", "--set",
                                      "settle_checks=5", "--templates", str(templates / "registry.yaml"),
                                      "--overlay-dir", str(out)])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert lines[-1].endswith("divergences=1")
    assert not any(line.startswith("failed image step") for line in lines), "the divergence is not a step failure"
    divergence = next(line for line in lines if line.startswith("first divergence"))
    assert "expected tap(" in divergence and "ClickIfImageFound" in divergence, divergence
    step = next(line for line in lines if line.startswith("divergence step:"))
    assert "ClickIfImageFound" in step and "TapToStart=" in step and "<0.8" in step, step
    assert (out / "divergence.png").is_file()
    with pytest.raises(AssertionError, match="TapToStart"):
        assert_replays(recorded, "demo/reach_home", routines=REPO / "routines",
                       templates=templates / "registry.yaml", overrides={"settle_checks": 5})


def test_a_bad_session_line_is_located(recorded: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(recorded, broken)
    lines = (broken / "session.jsonl").read_text().splitlines()
    lines[3] = '{"type": "input", "t": 1.0, "kind": "levitate", "args": {}}'
    (broken / "session.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SessionFormatError) as caught:
        Session(broken)
    assert caught.value.line == 4 and "kind" in str(caught.value)
    result = CliRunner().invoke(app, ["sessions", "replay", str(broken), "demo/reach_home"])
    assert result.exit_code == 1 and f"{broken / 'session.jsonl'}:4:" in result.output
