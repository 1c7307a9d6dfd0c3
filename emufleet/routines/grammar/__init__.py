"""The routine grammar (digest §1–§3): pydantic models of routine files, one module per action family.

* :mod:`.base`: step envelope, template parameters, points, regions;
* :mod:`.catalog`: where actions and conditions register (see below);
* :mod:`.conditions`: the 15 condition types;
* :mod:`.basic`, :mod:`.images`, :mod:`.flow`, :mod:`.account`: the 41 actions, each with its ``run``;
* :mod:`.routine`: the top-level file model, config params, sentries, the step and condition unions.

**Adding an action or a condition type** is one class in one module of this package, registered where it is
written, and nothing else::

    from emufleet.routines.grammar.base import Step
    from emufleet.routines.grammar.catalog import action

    @action
    class Tap(Step):
        NAME = "Tap"         # the YAML spelling (case-insensitive); @action(aliases=("touch",)) adds others
        LOOP = False         # True for a loop that Break leaves
        x: int

        def run(self, ex: Executor) -> None:
            ex.tap(self.x, 0)

A condition subclasses :class:`ConditionBase`, is decorated with ``@condition`` and implements ``evaluate``.
Fields may name ``AnyStep`` / ``AnyCondition`` (imported under ``TYPE_CHECKING`` from :mod:`.routine`) for nested
steps or conditions. :mod:`.routine` imports every module of the package before it builds the unions, so a new
module is found by itself; :data:`ACTIONS` and :data:`CONDITION_TYPES` list what registered.
"""

from emufleet.routines.grammar.base import StepBase
from emufleet.routines.grammar.catalog import ACTIONS, CONDITION_TYPES, action, condition
from emufleet.routines.grammar.conditions import ConditionBase
from emufleet.routines.grammar.routine import AnyCondition, AnyStep, ConfigParam, RoutineModel, SentrySpec

__all__ = ["ACTIONS", "CONDITION_TYPES", "AnyCondition", "AnyStep", "ConditionBase", "ConfigParam", "RoutineModel",
           "SentrySpec", "StepBase", "action", "condition"]
