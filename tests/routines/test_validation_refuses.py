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
