"""The interpreter on a stand-in device: actions, conditions, interpolation, config, Break, accounts."""

from __future__ import annotations

from typing import Any

import pytest

from emufleet.errors import InputError, NoAccountPoolError, RoutineError
from emufleet.routines import AccountRef, AccountResult, RoutineRun, apply_config
from emufleet.settings import GAME

from .conftest import PLACES, TPL_SIZE, Bot


def run(bot: Bot, text: str, key: str = "main", **kwargs: Any) -> Any:
    bot.write(key, text)
    ctx = bot.context(**{k: v for k, v in kwargs.items() if k != "overrides"})
    assert not ctx.registry.invalid(), ctx.registry.invalid()
    RoutineRun(ctx.registry.get(key), ctx, kwargs.get("overrides")).run()
    return ctx


def test_input_actions_map_template_space_to_device(bot: Bot) -> None:
    run(bot, """
steps:
  - {action: Click, x: 138, y: 289}
  - {action: Swipe, x1: 0, y1: 45, x2: 277, y2: 534, duration: 1.5s}
  - {action: Input, text: "a b"}
  - {action: send_key, key: KEYCODE_BACK}
  - {action: LaunchApp}
  - {action: KillApp, package: com.example}
  - {action: Delay, count: 1}
""", delay_unit_ms=10)
    space = bot.templates.space
    assert bot.device.taps == [space.device_point(138, 289)]
    assert bot.device.calls == [
        ("swipe", (0, 0, 539, 959, 1500)), ("input_text", ("a b",)), ("key_event", ("KEYCODE_BACK",)),
        ("app_start", (GAME.package, GAME.activity)), ("app_stop", ("com.example",)),
    ]


def test_click_if_image_found_taps_the_match_centre_from_the_template_size(bot: Bot) -> None:
    bot.device.visible = {"OK", "Main"}
    run(bot, """
steps:
  - {action: ClickIfImageFound, template: OK}
  - {action: ClickIfImageFound, template: OK, offset: {x: 10, y: -4}}
  - {action: ClickIfImageFound, template: OK, point: {x: 5, y: 50}}
  - {action: ClickIfImageFound, template: Error}
  - {action: ClickIfImageNotFound, template: Error, x: 7, y: 60}
  - {action: ClickIfImageNotFound, template: Main, x: 9, y: 70}
  - {action: FindImage, template: Main}
""")
    space, (x, y) = bot.templates.space, PLACES["OK"]
    cx, cy = x + TPL_SIZE[0] / 2, y + TPL_SIZE[1] / 2
    assert bot.device.taps == [space.device_point(cx, cy), space.device_point(cx + 10, cy - 4),
                               space.device_point(5, 50), space.device_point(7, 60)]


def test_find_image_not_found_fails_with_location(bot: Bot) -> None:
    with pytest.raises(RoutineError) as info:
        run(bot, "steps:\n  - {action: Sleep, duration: 1}\n  - {action: FindImage, template: Error}\n")
    assert "template 'Error' not found" in str(info.value) and "main.yaml:3" in str(info.value)
    failed = [e for e in bot.events if e.kind == "failed"]
    assert failed[0].path == "steps[1]" and failed[0].scores[0].template == "Error"
    assert failed[0].scores[0].found is False and failed[0].duration_ms is not None
    # What it was looking for, in device px (failure evidence draws these): the template's region, the best
    # candidate (inside the region grown by the matcher's few-px margin), the threshold it missed.
    score, space = failed[0].scores[0], bot.templates.space
    wanted = space.region_to_device(bot.templates.get("Error").region)
    assert score.region is not None and score.location is not None and score.threshold is not None
    assert score.region.x1 <= wanted.x1 and score.region.y1 <= wanted.y1
    assert score.region.x2 >= wanted.x2 and score.region.y2 >= wanted.y2
    grown = score.region.expand(8)
    assert grown.x1 <= score.location.x1 and score.location.x2 <= grown.x2
    assert grown.y1 <= score.location.y1 and score.location.y2 <= grown.y2
    assert score.score is not None and score.score < score.threshold


def test_wait_for_image_waits_then_times_out(bot: Bot) -> None:
    bot.device.on_tap = lambda dev, x, y: dev.visible.add("Menu")
    run(bot, "steps:\n  - {action: Click}\n  - {action: WaitForImage, template: Menu, timeout: 2}\n")
    with pytest.raises(RoutineError, match="not found within 0.2 s"):
        run(bot, "steps:\n  - {action: WaitForImage, template: Error, timeout: 200ms}\n", key="other")
    assert bot.device.screenshots >= 3  # polled with fresh frames


def test_image_branches_and_multi_template_ifs(bot: Bot) -> None:
    bot.device.visible = {"OK", "Main"}
    ctx = run(bot, """
steps:
  - {action: IfImageFound, template: OK, actions: [{action: SetVariable, name: a, value: "1"}]}
  - {action: IfImageNotFound, template: OK, actions: [{action: SetVariable, name: b, value: "1"}]}
  - {action: IfAnyImagesFound, templates: [Error, Main], actions: [{action: SetVariable, name: c, value: "1"}]}
  - {action: IfAllImagesFound, templates: [OK, Main], actions: [{action: SetVariable, name: d, value: "1"}]}
  - {action: IfAllImagesFound, templates: [OK, Error], actions: [{action: SetVariable, name: e, value: "1"}]}
  - {action: IfNoImagesFound, templates: [Error, Menu], actions: [{action: SetVariable, name: f, value: "1"}]}
""")
    assert sorted(ctx.variables.snapshot()) == ["a", "c", "d", "f"]


def test_image_loops(bot: Bot) -> None:
    bot.device.visible = {"Error"}

    def dismiss(dev: Any, x: int, y: int) -> None:
        if len(dev.taps) >= 3:
            dev.visible.discard("Error")
            dev.visible.add("Main")

    bot.device.on_tap = dismiss
    run(bot, """
steps:
  - {action: WhileImageFound, template: Error, max_attempts: 10, actions: [{action: Click}]}
  - {action: UntilImageFound, template: Main, actions: [{action: Click}]}
  - {action: WhileAnyImagesFound, templates: [Error, OK], actions: [{action: Click}]}
  - {action: UntilAnyImagesFound, templates: [OK, Main], actions: [{action: Click}]}
""")
    assert len(bot.device.taps) == 3
    bot.device.visible = {"OK"}
    with pytest.raises(RoutineError, match="template 'OK' still found after 2 attempts"):
        run(bot, "steps:\n  - {action: WhileImageFound, template: OK, max_attempts: 2, actions: [{action: Click}]}\n",
            key="exhaust")


def test_break_leaves_the_innermost_loop_through_nested_ifs(bot: Bot) -> None:
    ctx = run(bot, """
steps:
  - action: Repeat
    iterations: 5
    actions:
      - {action: Increment, name: outer}
      - {action: SetVariable, name: inner, value: "0"}
      - action: While
        condition: {type: VariableLessThan, variable: inner, value: "100"}
        actions:
          - {action: Increment, name: inner}
          - action: If
            condition: {type: VariableEquals, variable: inner, value: "3"}
            then:
              - action: IfNoImagesFound
                templates: [OK]
                actions:
                  - {action: Break}
      - action: If
        condition: {type: VariableEquals, variable: outer, value: "2"}
        then: [{action: Break}]
  - action: UntilAnyImagesFound
    templates: [OK]
    actions: [{action: Increment, name: any}, {action: If, condition: {type: VariableEquals, variable: any,
      value: "2"}, then: [{action: Break}]}]
""")
    assert ctx.variables.get("outer") == "2"
    assert ctx.variables.get("inner") == "3"
    assert ctx.variables.get("any") == "2"


def test_if_elseif_else_and_condition_logic(bot: Bot) -> None:
    text = """
steps:
  - action: If
    condition: {type: VariableGreaterThan, variable: n, value: "10"}
    then: [{action: SetVariable, name: r, value: big}]
    elseif:
      - condition: {type: All, conditions: [{type: VariableGreaterThanOrEqual, variable: n, value: "5"},
                    {type: Not, condition: {type: VariableEquals, variable: n, value: "7"}}]}
        then: [{action: SetVariable, name: r, value: mid}]
      - condition: {type: Any, conditions: [{type: VariableStartsWith, variable: s, prefix: ab},
                    {type: ImageExists, template: OK}]}
        then: [{action: SetVariable, name: r, value: prefix}]
      - condition: {type: None, conditions: [{type: VariableEndsWith, variable: s, suffix: zz},
                    {type: VariableContains, variable: s, substring: q}]}
        then: [{action: SetVariable, name: r, value: none}]
    else: [{action: SetVariable, name: r, value: else}]
"""
    cases = [({"n": "11", "s": ""}, "big"), ({"n": "6", "s": ""}, "mid"), ({"n": "7", "s": "abc"}, "prefix"),
             ({"n": "1", "s": "xy"}, "none"), ({"n": "1", "s": "q"}, "else"), ({"n": "5.5", "s": "q"}, "mid")]
    for i, (variables, expected) in enumerate(cases):
        ctx = run(bot, text, key=f"if{i}", variables=variables)
        assert ctx.variables.get("r") == expected, variables


def test_undefined_variables_fail_located(bot: Bot) -> None:
    with pytest.raises(RoutineError) as info:
        run(bot, "steps:\n  - {action: SetVariable, name: a, value: 'x ${missing}'}\n")
    assert "undefined variable 'missing'" in str(info.value) and "main.yaml:2" in str(info.value)
    with pytest.raises(RoutineError, match="undefined variable 'v'"):
        run(bot, "steps:\n  - {action: If, condition: {type: VariableEquals, variable: v, value: a}, "
                 "then: [{action: Click}]}\n", key="cond")
    with pytest.raises(RoutineError, match="is not a number"):
        run(bot, "steps:\n  - {action: If, condition: {type: VariableLessThan, variable: v, value: '1'}, "
                 "then: [{action: Click}]}\n", key="num", variables={"v": "abc"})


def test_variables_and_interpolation(bot: Bot) -> None:
    bot.device.visible = {"OK"}
    ctx = run(bot, """
steps:
  - {action: SetVariable, name: who, value: O}
  - {action: SetVariable, name: msg, value: "${who}K-${who}"}
  - {action: GetVariable, name: msg, target: copy}
  - {action: Increment, name: n}
  - {action: Increment, name: n, amount: 5}
  - {action: Decrement, name: n, amount: "2"}
  - action: If
    condition: {type: ImageExists, template: "${who}K"}
    then: [{action: SetVariable, name: seen, value: "yes"}]
""")
    values = ctx.variables.snapshot()
    assert (values["msg"], values["copy"], values["n"], values["seen"]) == ("OK-O", "OK-O", "4", "yes")
    with pytest.raises(RoutineError, match="not an integer"):
        run(bot, "steps:\n  - {action: Increment, name: s}\n", key="inc", variables={"s": "x"})
    with pytest.raises(RoutineError, match="template 'Nope' is not registered"):
        run(bot, "steps:\n  - {action: If, condition: {type: ImageExists, template: '${t}'}, then: "
                 "[{action: Click}]}\n", key="tpl", variables={"t": "Nope"})


CONFIG = """
config:
  - {name: count, type: number, default: "3", min: 1, max: 9}
  - {name: mode, type: dropdown, options: [Gold, Exp]}
  - {name: flag, type: checkbox}
  - {name: label, type: text, default: hi}
  - {name: secret, type: hidden}
  - {name: kept, type: number, default: "1", persist: true}
steps: []
"""


def test_config_precedence_runtime_over_group_over_default_over_type(bot: Bot) -> None:
    bot.write("cfg", CONFIG)
    ctx = bot.context(group_config={"count": "5", "label": "group"})
    routine = ctx.registry.get("cfg")
    ctx.variables.set("kept", "42", persistent=True)
    apply_config(routine, ctx, {"count": "7", "extra": "x"})
    assert ctx.variables.snapshot() == {"count": "7", "mode": "Gold", "flag": "false", "label": "group",
                                        "secret": "", "kept": "42", "extra": "x"}
    apply_config(routine, ctx, {})
    assert ctx.variables.get("count") == "5"
    ctx.group_config = {}
    apply_config(routine, ctx, {"kept": "2"})
    assert (ctx.variables.get("count"), ctx.variables.get("kept")) == ("3", "2")
    for bad in ({"count": "10"}, {"mode": "Iron"}, {"flag": "yes"}):
        with pytest.raises(InputError):
            apply_config(routine, ctx, bad)


def test_run_routine_applies_config_and_starts_its_sentries(bot: Bot) -> None:
    bot.write("sub", """
config:
  - {name: times, type: number, default: "1"}
sentries:
  - {routine: watch, frequency: 1s}
steps:
  - {action: SetVariable, name: got, value: "${times}"}
  - {action: Sleep, duration: 1300ms}
""")
    bot.write("watch", "steps:\n  - {action: Increment, name: watched}\n")
    ctx = run(bot, "steps:\n  - {action: SetVariable, name: t, value: '4'}\n"
                   "  - {action: RunRoutine, routine: sub.yaml, config: {times: '${t}'}}\n")
    assert ctx.variables.get("got") == "4"
    assert ctx.variables.get("watched") == "1"
    assert ctx.sentries.active() == []
    sub_events = [e for e in bot.events if e.routine == "sub" and e.kind == "finished"]
    assert [e.depth for e in sub_events] == [1, 1]


class Pool:
    """An in-memory ``AccountProvider`` (the pools package implements the real one)."""

    def __init__(self) -> None:
        self.current: AccountRef | None = None
        self.log: list[tuple[Any, ...]] = []
        self.fields: dict[str, Any] = {"shinedust": 10, "last_error": None}

    def inject_next(self, device: Any, *, timeout_s: float, on_no_accounts: str) -> AccountRef | None:
        self.current = AccountRef(7, "acc-7", "demo")
        self.log.append(("inject", timeout_s, on_no_accounts))
        return self.current

    def complete(self, account_id: int | None, result: AccountResult) -> None:
        self.log.append(("complete", account_id, result))

    def return_account(self, account_id: int | None, reason: str | None = None) -> None:
        self.log.append(("return", account_id, reason))

    def mark_failed(self, account_id: int | None, reason: str) -> None:
        self.log.append(("failed", account_id, reason))

    def update_field(self, account_id: int | None, field: str, value: str) -> None:
        self.fields[field] = value

    def increment_field(self, account_id: int | None, field: str, amount: int) -> None:
        self.fields[field] = int(self.fields.get(field) or 0) + amount

    def get_field(self, account_id: int | None, field: str) -> Any:
        return self.fields.get(field)

    def update_routine_metrics(self, *, packs_opened: int | None, wonder_picks_done: int | None) -> None:
        self.log.append(("metrics", packs_opened, wonder_picks_done))


ACCOUNT_STEPS = """
steps:
  - {action: InjectNextAccount, save_result: acc, timeout: 5s, on_no_accounts: wait}
  - {action: UpdateAccountField, field: pool_status, value: "busy-${acc}"}
  - {action: IncrementAccountField, field: shinedust, amount: "${n}"}
  - {action: GetAccountField, field: shinedust, save_to: dust}
  - {action: GetAccountField, field: last_error, save_to: err, default: none}
  - {action: UpdateRoutineMetrics, packs_opened: "${n}"}
  - {action: CompleteAccount, account_id: device_account_id, success: true, packs_opened: 2, cards_found: "${n}"}
  - {action: ReturnAccount, reason: later}
  - {action: MarkAccountFailed, reason: banned}
"""


def test_account_actions_go_through_the_provider(bot: Bot) -> None:
    pool = Pool()
    ctx = run(bot, ACCOUNT_STEPS, accounts=pool, variables={"n": "3"})
    values = ctx.variables.snapshot()
    assert (values["acc"], values["device_account_id"], values["dust"], values["err"]) == ("acc-7", "7", "13", "none")
    assert pool.fields["pool_status"] == "busy-acc-7"
    assert pool.log == [("inject", 5.0, "wait"), ("metrics", 3, None),
                        ("complete", 7, AccountResult(success=True, packs_opened=2, cards_found=3)),
                        ("return", None, "later"),
                        ("failed", None, "banned")]


@pytest.mark.parametrize("step", [line for line in ACCOUNT_STEPS.splitlines() if "action:" in line])
def test_account_actions_without_a_pool_fail_clearly(bot: Bot, step: str) -> None:
    with pytest.raises(NoAccountPoolError, match="no account pool configured"):
        run(bot, f"steps:\n{step}\n", variables={"n": "1", "acc": "a", "device_account_id": "7"})


def test_frames_fresh_for_conditions_and_reused_by_find_and_click_if(bot: Bot) -> None:
    bot.device.visible = {"OK"}
    run(bot, "steps:\n  - {action: ClickIfImageFound, template: OK}\n  - {action: FindImage, template: OK}\n"
             "  - {action: ClickIfImageNotFound, template: Main, x: 1, y: 50}\n")
    assert bot.device.screenshots == 1  # one frame ≤ 100 ms old served all three (digest §4.4)
    bot.device.screenshots = 0
    run(bot, "steps:\n  - {action: IfImageFound, template: OK, actions: [{action: Sleep, duration: 1}]}\n"
             "  - {action: If, condition: {type: ImageExists, template: OK}, then: [{action: Sleep, duration: 1}]}\n",
        key="fresh")
    assert bot.device.screenshots == 2


def test_step_by_step_run_as_the_prefect_layer_drives_it(bot: Bot) -> None:
    bot.write("steps", """
config: [{name: start, type: number, default: "10"}]
sentries: [{routine: idle, frequency: 1s}]
steps:
  - {action: Increment, name: start}
  - {action: Increment, name: start, amount: 5}
""")
    bot.write("idle", "steps: []\n")
    ctx = bot.context()
    run_ = RoutineRun(ctx.registry.get("steps"), ctx, overrides={"start": "1"})
    run_.start()
    assert ctx.sentries.active() == ["idle"] and ctx.variables.get("start") == "1"
    for i in range(len(run_.steps)):
        run_.run_step(i)
    run_.close()
    assert ctx.sentries.active() == [] and ctx.variables.get("start") == "7"
    assert [(e.kind, e.path) for e in bot.events] == [("started", "steps[0]"), ("finished", "steps[0]"),
                                                       ("started", "steps[1]"), ("finished", "steps[1]")]
