"""Grammar: every action and condition type, valid and invalid, with located errors (digest §1.5, §2.1)."""

from __future__ import annotations

import pytest

from emufleet.durations import parse_duration
from emufleet.errors import InputError, RoutineValidationError
from emufleet.routines import ACTIONS, CONDITION_TYPES, read_routine

BODY = "actions: [{action: Click, x: 1, y: 1}]"
#: action → (a valid step's keys, an invalid step's keys, a fragment of the expected message)
CASES: dict[str, tuple[str, str, str]] = {
    "Click": ("x: 10, y: 20", "x: -1, y: 2", "greater than or equal to 0"),
    "Swipe": ("x1: 1, y1: 2, x2: 3, y2: 4, duration: 300", "x1: 1, y1: 2, x2: 3, y2: 4", "Field required"),
    "Input": ("text: hello world", "", "Field required"),
    "send_key": ("key: KEYCODE_BACK", "key: ''", "key must not be empty"),
    "Sleep": ("duration: 500ms", "duration: 0", "greater than 0"),
    "Delay": ("count: 2", "count: '${n}'", "valid integer"),
    "FindImage": ("template: OK, threshold: 0.9", "template: OK, threshold: 2", "less than or equal to 1"),
    "WaitForImage": ("template: OK, timeout: 30", "template: OK", "Field required"),
    "ClickIfImageFound": ("template: OK, offset: {x: 2, y: -3}", "template: OK, point: {x: 1, y: 1}, "
                          "offset: {x: 1, y: 1}", "mutually exclusive"),
    "ClickIfImageNotFound": ("template: OK, x: 5, y: 6", "template: OK", "Field required"),
    "IfImageFound": (f"template: OK, {BODY}", "template: OK, actions: []", "at least 1 item"),
    "IfImageNotFound": (f"template: OK, {BODY}", "template: OK, then: [{action: Break}]", "has no then/else"),
    "IfAnyImagesFound": (f"templates: [OK, Main], {BODY}", f"templates: [], {BODY}", "at least 1 item"),
    "IfAllImagesFound": (f"templates: [OK], {BODY}", BODY, "Field required"),
    "IfNoImagesFound": (f"templates: [OK], {BODY}", f"templates: OK, {BODY}", "valid list"),
    "WhileImageFound": (f"template: OK, max_attempts: 3, {BODY}", f"template: OK, max_attempts: -1, {BODY}",
                        "greater than or equal to 0"),
    "UntilImageFound": (f"template: OK, {BODY}", "template: OK", "Field required"),
    "WhileAnyImagesFound": (f"templates: [OK], max_attempts: 2, {BODY}", f"templates: [OK], max_attempts: 1.5, "
                            f"{BODY}", "valid integer"),
    "UntilAnyImagesFound": (f"templates: [OK], {BODY}", f"templates: [OK], {BODY}, then: []", "unknown key"),
    "Repeat": (f"iterations: 3, {BODY}", f"iterations: 0, {BODY}", "greater than 0"),
    "If": ("condition: {type: VariableEquals, variable: a, value: b}, then: [{action: Sleep, duration: 1}], "
           "elseif: [{condition: {type: Not, condition: {type: ImageExists, template: OK}}, then: [{action: Click}]}],"
           " else: [{action: Click}]",
           "condition: {type: VariableEquals, variable: a, value: b}, then: []", "at least 1 item"),
    "While": (f"condition: {{type: ImageExists, template: OK}}, {BODY}", BODY, "Field required"),
    "Until": (f"condition: {{type: ImageNotExists, template: OK}}, max_attempts: 4, {BODY}",
              f"condition: {{type: Sometimes}}, {BODY}", "unknown condition type 'Sometimes'"),
    "Break": ("", "x: 1", "unknown key"),
    "RunRoutine": ("routine: other, label: go, config: {a: 1}", "routine_name: other", "routine_name is not a key"),
    "SetVariable": ("name: v, value: 3", "name: 'bad name', value: x", "should match pattern"),
    "GetVariable": ("name: v, target: w", "target: w", "Field required"),
    "Increment": ("name: v, amount: '2'", "name: v, amount: two", "amount must be an integer"),
    "Decrement": ("name: v", "name: v, amount: 1.5", "amount must be an integer"),
    "InjectNextAccount": ("timeout: 10s, save_result: acc, on_no_accounts: wait", "on_no_accounts: later",
                          "'wait', 'stop' or 'continue'"),
    "CompleteAccount": ("success: true, packs_opened: 2", "packs_opened: 2", "success: true or a non-empty error"),
    "ReturnAccount": ("reason: done", "reason: [x]", "valid string"),
    "MarkAccountFailed": ("reason: banned", "", "Field required"),
    "UpdateAccountField": ("field: shinedust, value: '${x}'", "field: password, value: x", "field must be one of"),
    "IncrementAccountField": ("field: wonder_picks", "field: last_error", "field must be one of"),
    "GetAccountField": ("field: device_account, save_to: acc, default: none", "field: shinedust",
                        "Field required"),
    "UpdateRoutineMetrics": ("packs_opened: '${n}'", "", "needs packs_opened or wonder_picks_done"),
    "SentryHalt": ("", "now: true", "unknown key"),
    "SentryResume": ("", "step_timeout: soon", "expected a duration"),
    "LaunchApp": ("package: com.example, activity: .Main", "package: 3.5", "valid string"),
    "KillApp": ("", "packages: [a]", "unknown key"),
    # issue 20: reading the screen (tests/routines/test_text_steps.py runs them)
    "ReadText": ("region: {x1: 1, y1: 50, x2: 90, y2: 70}, save_to: t", "save_to: t", "give region"),
    "ReadNumber": ("whole_screen: true, save_to: n, record: shinedust", "whole_screen: true, save_to: n, record: x",
                   "record"),
    "ClickText": ("region: {x1: 1, y1: 50, x2: 90, y2: 70}, pattern: 'OK|Retry'", "whole_screen: true, text: ''",
                  "text must not be empty"),
    "Notify": ("message: 'god pack ${x}', screenshot: false", "message: ''", "at least 1 character"),
}


def _step(action: str, keys: str) -> str:
    return f"steps:\n  - {{action: {action}{', ' + keys if keys else ''}}}\n"


def test_all_45_actions_and_18_conditions_are_registered_and_tested() -> None:
    assert len(ACTIONS) == 45 and len(CONDITION_TYPES) == 18  # the seed's 41 and 15, issue 20's, Notify
    assert {a.lower() for a in CASES} == set(ACTIONS)


@pytest.mark.parametrize("action", sorted(CASES))
def test_action_valid(action: str) -> None:
    routine, errors = read_routine("r.yaml", "r", text=_step(action, CASES[action][0]) if action != "Break" else
                                   f"steps:\n  - {{action: Repeat, iterations: 1, actions: [{{action: {action}}}]}}\n")
    assert errors == [] and routine is not None


@pytest.mark.parametrize("action", sorted(CASES))
def test_action_invalid_is_located(action: str) -> None:
    _, errors = read_routine("r.yaml", "r", text=_step(action, CASES[action][1]))
    assert errors, action
    assert errors[0].file == "r.yaml" and errors[0].line == 2, str(errors[0])
    assert CASES[action][2] in str(errors[0]), str(errors[0])


@pytest.mark.parametrize("action", ["click", "CLICK", "Click", "cLiCk"])
def test_action_names_are_case_insensitive(action: str) -> None:
    routine, errors = read_routine("r.yaml", "r", text=_step(action, "x: 1, y: 2"))
    assert not errors and routine is not None and routine.steps[0].NAME == "Click"


CONDITIONS = {
    "ImageExists": "template: OK, threshold: 0.7, region: {x1: 0, y1: 0, x2: 50, y2: 50}",
    "ImageNotExists": "template: '${name}_button'",
    "Not": "condition: {type: VariableEquals, variable: a, value: b}",
    "All": "conditions: [{type: VariableEquals, variable: a, value: b}]",
    "Any": "conditions: [{type: VariableEquals, variable: a, value: b}, {type: ImageExists, template: OK}]",
    "None": "conditions: [{type: VariableContains, variable: a, substring: b}]",
    "VariableEquals": "variable: a, value: 3",
    "VariableNotEquals": "variable: a, value: x",
    "VariableGreaterThan": "variable: a, value: '3.5'",
    "VariableLessThan": "variable: a, value: 3",
    "VariableGreaterThanOrEqual": "variable: a, value: -1",
    "VariableLessThanOrEqual": "variable: a, value: '0'",
    "VariableContains": "variable: a, substring: x",
    "VariableStartsWith": "variable: a, prefix: x",
    "VariableEndsWith": "variable: a, suffix: x",
}
BAD_CONDITIONS = {
    "ImageExists": ("threshold: 0.5", "Field required"),
    "ImageNotExists": ("template: OK, region: {x1: 5, y1: 5, x2: 5, y2: 9}", "x2 > x1"),
    "Not": ("conditions: []", "Field required"),
    "All": ("conditions: []", "at least 1 item"),
    "Any": ("conditions: [{variable: a}]", "a condition needs a type"),
    "None": ("condition: {type: All}", "Field required"),
    "VariableEquals": ("variable: a", "Field required"),
    "VariableNotEquals": ("value: a", "Field required"),
    "VariableGreaterThan": ("variable: a, value: '${t}'", "condition values are not interpolated"),
    "VariableLessThan": ("variable: a, value: many", "must be a number"),
    "VariableGreaterThanOrEqual": ("variable: a, value: x1", "must be a number"),
    "VariableLessThanOrEqual": ("variable: a, value: '1', extra: 2", "unknown key"),
    "VariableContains": ("variable: a, value: x", "substring: Field required"),
    "VariableStartsWith": ("variable: '', prefix: x", "at least 1 character"),
    "VariableEndsWith": ("variable: a", "Field required"),
}


def _if(cond: str) -> str:
    return f"steps:\n  - action: If\n    condition: {{{cond}}}\n    then: [{{action: Click}}]\n"


@pytest.mark.parametrize("kind", sorted(CONDITIONS))
def test_condition_valid(kind: str) -> None:
    routine, errors = read_routine("r.yaml", "r", text=_if(f"type: {kind.lower()}, {CONDITIONS[kind]}"))
    assert not errors, errors
    assert routine is not None and routine.steps[0].condition.NAME == kind  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", sorted(BAD_CONDITIONS))
def test_condition_invalid_is_located(kind: str) -> None:
    bad, message = BAD_CONDITIONS[kind]
    _, errors = read_routine("r.yaml", "r", text=_if(f"type: {kind}, {bad}"))
    assert errors and errors[0].line == 3, errors
    assert message in str(errors[0]), str(errors[0])


def test_unknown_key_and_unknown_action_are_located_at_their_node() -> None:
    text = "steps:\n  - action: Click\n    x: 1\n    colour: red\n  - action: ClickImage\n    template: OK\n"
    _, errors = read_routine("r.yaml", "r", text=text)
    assert [str(e) for e in errors] == [
        "r.yaml:4:5: steps[0].colour: unknown key",
        "r.yaml:5:5: steps[1]: unknown action 'ClickImage' (did you mean ClickIfImageFound?)",
    ]


def test_shorthand_steps_and_bad_top_level_are_explained() -> None:
    _, errors = read_routine("r.yaml", "r", text="steps:\n  - killapp:\n")
    assert "shorthand steps are not supported" in str(errors[0]) and errors[0].line == 2
    _, errors = read_routine("r.yaml", "r", text="routine_name: x\nvariables: {}\n")
    assert str(errors[0]) == "r.yaml:2:1: variables: unknown key"
    _, errors = read_routine("r.yaml", "r", text="- a\n- b\n")
    assert "a routine file is a mapping" in str(errors[0])


def test_break_outside_a_loop_is_a_load_error_but_fine_nested_in_if() -> None:
    _, errors = read_routine("r.yaml", "r", text="steps:\n  - action: If\n    condition: {type: VariableEquals, "
                             "variable: a, value: b}\n    then:\n      - action: Break\n")
    assert str(errors[0]) == "r.yaml:5:17: steps[0].then[0].action: Break outside a loop"
    routine, errors = read_routine("r.yaml", "r", text="steps:\n  - action: WhileAnyImagesFound\n    templates: [OK]\n"
                                   "    actions:\n      - action: IfImageFound\n        template: OK\n"
                                   "        actions: [{action: Break}]\n")
    assert not errors and routine is not None


def test_timeout_disambiguation() -> None:
    """``timeout`` is the wait (s) on WaitForImage, the lease wait (ms) on InjectNextAccount, else the step timeout
    (ms, the seed's meaning); ``step_timeout`` is the step timeout everywhere (bare number = ms)."""
    routine, errors = read_routine("r.yaml", "r", text=(
        "steps:\n"
        "  - {action: WaitForImage, template: OK, timeout: 30}\n"
        "  - {action: WaitForImage, template: OK, timeout: 500ms, step_timeout: 2s}\n"
        "  - {action: Sleep, duration: 10, timeout: 30}\n"
        "  - {action: Sleep, duration: 10, step_timeout: 1m}\n"
        "  - {action: InjectNextAccount, timeout: 30000}\n"))
    assert not errors and routine is not None
    wait, wait2, sleep, sleep2, inject = routine.steps
    assert (wait.timeout, wait.timeout_s) == (30.0, None)  # type: ignore[attr-defined]
    assert (wait2.timeout, wait2.timeout_s) == (0.5, 2.0)  # type: ignore[attr-defined]
    assert sleep.timeout_s == pytest.approx(0.03) and sleep2.timeout_s == 60.0
    assert inject.timeout == 30.0 and inject.timeout_s is None  # type: ignore[attr-defined]
    _, errors = read_routine("r.yaml", "r", text="steps:\n  - {action: Sleep, duration: 1, timeout: 1, "
                             "step_timeout: 1}\n")
    assert "either timeout" in str(errors[0])


@pytest.mark.parametrize(("value", "unit", "seconds"), [
    (500, "ms", 0.5), ("500", "ms", 0.5), ("500ms", "s", 0.5), ("30s", "ms", 30.0), ("2m", "ms", 120.0),
    (30, "s", 30.0), ("1.5s", "ms", 1.5), ("1h", "s", 3600.0), (0.25, "s", 0.25),
])
def test_durations(value: object, unit: str, seconds: float) -> None:
    assert parse_duration(value, unit) == pytest.approx(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [0, "0ms", -1, "fast", "5 min", True, None, "1e3"])
def test_bad_durations(value: object) -> None:
    with pytest.raises(InputError):
        parse_duration(value, "ms")


def test_config_params_are_validated() -> None:
    def errors_of(param: str) -> list[RoutineValidationError]:
        return read_routine("r.yaml", "r", text=f"config:\n  - {{{param}}}\n")[1]

    assert not errors_of("name: n, type: number, default: 5, min: 1, max: 10")
    assert "outside" in str(errors_of("name: n, type: number, default: 50, min: 1, max: 10")[0])
    assert "min must not exceed max" in str(errors_of("name: n, type: number, min: 5, max: 1")[0])
    assert "a dropdown needs options" in str(errors_of("name: d, type: dropdown")[0])
    assert "not one of" in str(errors_of("name: d, type: dropdown, options: [a, b], default: c")[0])
    assert "true or false" in str(errors_of("name: c, type: checkbox, default: maybe")[0])
    assert "Input should be" in str(errors_of("name: t, type: colour")[0])
    assert not errors_of("name: c, type: checkbox, default: true, persist: true, label: C, description: d")
    dupes = read_routine("r.yaml", "r", text="config:\n  - {name: a, type: text}\n  - {name: a, type: text}\n")[1]
    assert "duplicate config params: a" in str(dupes[0])


def test_sentry_specs() -> None:
    routine, errors = read_routine("r.yaml", "r", text="sentries:\n  - {routine: s, frequency: 1500ms}\n")
    assert not errors and routine is not None
    spec = routine.sentries[0]
    assert (spec.frequency, spec.severity, spec.on_success, spec.on_failure) == (1.5, "medium", "resume",
                                                                                   "force_stop")
    _, errors = read_routine("r.yaml", "r", text="sentries:\n  - {routine: s, frequency: 500ms}\n")
    assert "at least 1 s" in str(errors[0])
    _, errors = read_routine("r.yaml", "r", text="sentries:\n  - {routine: s, on_failure: explode}\n")
    assert errors[0].line == 2 and "on_failure" in str(errors[0])


@pytest.mark.parametrize(("value", "ok"), [("2", True), ("'${packs}'", True), ("0", True), ("-1", False),
                                           ("two", False), ("true", False), ("1.5", False)])
def test_complete_account_counters_take_integers_or_variables(value: str, ok: bool) -> None:
    _, errors = read_routine("r.yaml", "r", text=_step("CompleteAccount", f"success: true, cards_found: {value}"))
    assert (errors == []) is ok, errors
    if not ok:
        assert "non-negative integer or ${variable}" in str(errors[0])
