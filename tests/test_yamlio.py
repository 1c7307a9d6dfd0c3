"""Located YAML errors: the contract every user-edited file relies on."""

from __future__ import annotations

import pydantic
import pytest

from emufleet.errors import InputError, RoutineValidationError
from emufleet.validation import validate, validation_errors
from emufleet.yamlio import load_yaml, loads_yaml


class Step(pydantic.BaseModel, extra="forbid"):
    action: str
    x: int = 0


class Doc(pydantic.BaseModel, extra="forbid"):
    steps: list[Step]


def test_unknown_key_points_at_the_key() -> None:
    data = loads_yaml("steps:\n  - action: Click\n    x: 1\n  - action: Click\n    y: 3\n", "r.yaml")
    with pytest.raises(RoutineValidationError) as info:
        validate(Doc, data, "r.yaml", error=RoutineValidationError)
    assert str(info.value) == "r.yaml:5:5: steps[1].y: unknown key"
    assert (info.value.line, info.value.col, info.value.field) == (5, 5, "steps[1].y")


def test_bad_value_points_at_the_value() -> None:
    data = loads_yaml("steps:\n  - action: Click\n    x: abc\n", "r.yaml")
    with pytest.raises(RoutineValidationError, match=r"^r\.yaml:3:8: steps\[0\]\.x: Input should be a valid integer"):
        validate(Doc, data, "r.yaml", error=RoutineValidationError)


def test_duplicate_key_and_syntax_errors_are_located(tmp_path) -> None:
    with pytest.raises(InputError, match=r"^d\.yaml:2:1: YAML: duplicate key 'a'"):
        loads_yaml("a: 1\na: 2\n", "d.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\nb: 3\n")
    with pytest.raises(InputError, match=r"bad\.yaml:\d+:\d+: YAML"):
        load_yaml(bad)


def test_missing_file_names_the_file(tmp_path) -> None:
    with pytest.raises(InputError, match="nope.yaml: cannot read"):
        load_yaml(tmp_path / "nope.yaml")


def test_non_scalar_key_is_located() -> None:
    with pytest.raises(InputError, match=r"^k\.yaml:2:1: YAML: a mapping key must be a scalar"):
        loads_yaml("a: 1\n[x]: 2\n", "k.yaml")


class Click(pydantic.BaseModel, extra="forbid"):
    action: str
    x: int


class Tagged(pydantic.BaseModel, extra="forbid"):
    steps: list[Click | Step]


def test_validation_errors_lists_every_error_by_position_without_union_tags() -> None:
    data = loads_yaml("steps:\n  - action: Click\n    y: 3\n  - action: Click\n    x: abc\n", "r.yaml")
    with pytest.raises(pydantic.ValidationError) as info:
        Doc.model_validate(data)
    errors = validation_errors(info.value, data, "r.yaml", error=RoutineValidationError)
    assert [str(e) for e in errors] == ["r.yaml:3:5: steps[0].y: unknown key",
                                        "r.yaml:5:8: steps[1].x: Input should be a valid integer, unable to "
                                        "parse string as an integer"]
    assert all(type(e) is RoutineValidationError for e in errors)
    with pytest.raises(pydantic.ValidationError) as info:
        Tagged.model_validate(data)
    fields = {e.field for e in validation_errors(info.value, data, "r.yaml", error=InputError)}
    assert fields == {"steps[0].x", "steps[0].y", "steps[1].x"}  # "Click"/"Step" union branches dropped
