"""Issue 23 item 16: validation refuses what running refuses: an empty routine file, a YAML 1.1 base-60 time."""

from __future__ import annotations

from pathlib import Path

import pytest

from emufleet.errors import InputError
from emufleet.routines.loader import read_routine
from emufleet.yamlio import loads_yaml


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n"])
def test_an_empty_routine_file_is_not_a_valid_routine(tmp_path: Path, text: str) -> None:
    (tmp_path / "empty.yaml").write_text(text)
    routine, errors = read_routine(tmp_path / "empty.yaml", "empty")
    assert routine is None and errors and "empty" in errors[0].message and errors[0].line == 1


@pytest.mark.parametrize("value", ["190:20:30", "1:30", "190:20:30.5"])
def test_base_60_numbers_are_refused_not_guessed(value: str) -> None:
    with pytest.raises(InputError, match="base-60") as info:
        loads_yaml(f"steps:\n  - duration: {value}\n", "r.yaml")
    assert (info.value.line, info.value.col) == (2, 15)
    assert loads_yaml(f"d: '{value}'")["d"] == value  # quoted, it is the text it says


def test_what_the_device_layer_refuses_fails_validation_located(tmp_path: Path) -> None:
    """``Input`` text, app packages, activities and keys the device layer rejects at run time are refused at
    load, each at its file, line and field; what it accepts still loads."""
    (tmp_path / "bad.yaml").write_text(
        "steps:\n"
        "  - {action: Input, text: \"h\\u00e9llo\"}\n"
        "  - {action: Input, text: \"100%s\"}\n"
        "  - {action: LaunchApp, package: \"com.x;reboot\"}\n"
        "  - {action: KillApp, package: nodots}\n"
        "  - {action: send_key, key: \"BACK;ls\"}\n"
        "  - {action: LaunchApp, package: a.b, activity: \"a b\"}\n"
        "  - {action: Input, text: \"fine text\"}\n"
        "  - {action: LaunchApp, package: jp.pokemon.pokemontcgp, activity: .Main}\n")
    routine, errors = read_routine(tmp_path / "bad.yaml", "bad")
    assert routine is None
    assert [(e.line, e.field) for e in errors] == [
        (2, "steps[0].text"), (3, "steps[1].text"), (4, "steps[2].package"), (5, "steps[3].package"),
        (6, "steps[4].key"), (7, "steps[5].activity")]
    assert all(e.file == str(tmp_path / "bad.yaml") for e in errors)
    assert "printable ASCII" in errors[0].message and "not an Android package name" in errors[2].message


def test_printed_routine_names_never_carry_terminal_escapes(tmp_path: Path) -> None:
    """A routine named with an OSC title sequence, a CSI colour and a bidi override, in a file whose own name
    holds an escape, prints as text: every control character shown as its escape."""
    from typer.testing import CliRunner

    from emufleet.cli import app

    root = tmp_path / "routines"
    root.mkdir()
    (root / "evil.yaml").write_text('routine_name: "\\e]0;pwned\\a\\e[31mred\\u202egnp"\ntags: ["\\e[2J"]\n'
                                    "steps:\n  - {action: Sleep, duration: 1}\n")
    (root / "bad\x1b[8m.yaml").write_text("steps:\n  - {action: Nope}\n")
    listed = CliRunner().invoke(app, ["routines", "list", "--routines-root", str(root)])
    validated = CliRunner().invoke(app, ["routines", "validate", str(root)])
    assert listed.exit_code == 0 and validated.exit_code == 1
    for output in (listed.output, validated.output):
        assert not any(c in output for c in "\x1b\x07\u202e"), output
    assert "\\x1b]0;pwned\\x07\\x1b[31mred\\u202egnp" in listed.output and "[\\x1b[2J]" in listed.output
    assert "bad\\x1b[8m.yaml" in validated.output
