"""Actions and conditions register where they are written (emufleet.routines.grammar.catalog)."""

from __future__ import annotations

import pytest

from emufleet.routines import read_routine
from emufleet.routines.grammar import ACTIONS, CONDITION_TYPES, ConditionBase, StepBase
from emufleet.routines.grammar.base import Step
from emufleet.routines.grammar.catalog import Catalog, action, condition


def _named_subclasses(base: type) -> set[type]:
    seen: set[type] = set()
    todo = list(base.__subclasses__())
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if "NAME" in vars(cls) and cls.__module__.startswith("emufleet."):
            seen.add(cls)
    return seen


def test_every_named_class_of_the_engine_is_registered_under_its_name() -> None:
    steps, conditions = _named_subclasses(StepBase), _named_subclasses(ConditionBase)
    assert steps and conditions
    for catalog, classes in ((ACTIONS, steps), (CONDITION_TYPES, conditions)):
        for cls in classes:
            assert catalog[cls.NAME.lower()] is cls, f"{cls.__qualname__} is not registered (@action/@condition)"
        assert len(catalog) == len(classes)


def test_aliases_and_case_resolve_to_the_canonical_key() -> None:
    assert ACTIONS.key("SendKey") == ACTIONS.key("SEND_KEY") == "send_key"
    assert ACTIONS.key("nosuch") is None
    routine, errors = read_routine("r.yaml", "r", text="steps:\n  - {action: SENDKEY, key: KEYCODE_BACK}\n")
    assert errors == [] and routine is not None and type(routine.steps[0]).NAME == "send_key"


def test_a_taken_name_or_a_late_registration_is_refused() -> None:
    with pytest.raises(TypeError, match="registered after the grammar was assembled"):
        @action
        class Late(Step):
            NAME = "LateAction"
    with pytest.raises(TypeError, match="registered after the grammar was assembled"):
        @condition
        class LateCondition(ConditionBase):
            NAME = "LateCondition"
    assert "lateaction" not in ACTIONS and "latecondition" not in CONDITION_TYPES


def test_a_catalog_keeps_order_names_aliases_and_refuses_a_nameless_class() -> None:
    catalog: Catalog[Step] = Catalog("thing")

    class A(Step):
        NAME = "Alpha"

    class B(Step):
        NAME = "beta"

    catalog.register(A, ("first",))
    catalog.register(B)
    with pytest.raises(TypeError, match="'beta' of B2 is taken"):
        catalog.register(type("B2", (Step,), {"NAME": "Beta"}))
    assert list(catalog) == ["alpha", "beta"] and catalog.names() == ["Alpha", "beta"]
    assert catalog.key("FIRST") == "alpha" and sorted(catalog.spellings()) == ["alpha", "beta", "first"]
    with pytest.raises(TypeError, match="alias 'first'|name 'first'"):
        catalog.register(type("C", (Step,), {"NAME": "first"}))
    with pytest.raises(TypeError, match="sets NAME"):
        catalog.register(Step)
    assert catalog.seal() == (A, B)
