"""Property-based: whatever YAML a user writes, loading yields routines or located validation errors only."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emufleet.errors import RoutineValidationError
from emufleet.routines import ACTIONS, CONDITION_TYPES, load_routine, read_routine

KEYS = ["action", "type", "template", "templates", "x", "y", "x1", "y1", "x2", "y2", "duration", "timeout",
        "step_timeout", "count", "actions", "then", "else", "elseif", "condition", "conditions", "name", "value",
        "variable", "routine", "config", "iterations", "max_attempts", "threshold", "region", "offset", "point",
        "success", "field", "amount", "frequency", "on_failure", "steps", "sentries", "tags", "default", "options",
        "min", "max", "key", "text", "save_to", "routine_name", "version", "requires", "package", "min_version",
        "bogus"]
WORDS = [*(a.upper() if i % 2 else a for i, a in enumerate(ACTIONS)), *CONDITION_TYPES, "OK", "Main", "${v}", "500ms",
         "2m", "-3", "1.5", "", "number", "dropdown", "true", "resume", "stop"]

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
                    st.sampled_from(WORDS), st.text(max_size=8))
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.sampled_from(KEYS), children, max_size=6)),
    max_leaves=30,
)
documents = st.one_of(values, st.fixed_dictionaries({}, optional={
    "steps": st.lists(st.dictionaries(st.sampled_from(KEYS), values, max_size=5), max_size=5),
    "config": values, "sentries": values, "routine_name": scalars, "tags": values, "requires": values,
}))


def _check(text: str) -> None:
    routine, errors = read_routine("r.yaml", "r", text=text)
    assert (routine is None) == bool(errors)
    for err in errors:
        assert isinstance(err, RoutineValidationError)
        assert err.file == "r.yaml" and err.line is not None and err.line >= 1, str(err)
        assert str(err).startswith(f"r.yaml:{err.line}:")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_structures_load_or_fail_located(document: object) -> None:
    _check(yaml.safe_dump(document, sort_keys=False))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("- :{}[]#&*!|>'\"%@`,?\n\t abc1${}\x00\x07é")), max_size=80))
def test_random_text_loads_or_fails_located(text: str) -> None:
    _check(text)


def test_load_routine_raises_only_validation_errors(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "x.yaml"
    path.write_text("steps:\n  - {action: Sleep}\n  - {action: Click, x: -1}\n")
    try:
        load_routine(path)
    except RoutineValidationError as err:
        assert err.line == 2 and len(err.errors) == 2  # type: ignore[attr-defined]
    else:
        raise AssertionError("expected a RoutineValidationError")
