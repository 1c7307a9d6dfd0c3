"""The routine grammar (digest §1–§3): pydantic models of routine files, one module per action family.

* :mod:`.base`: step envelope, template parameters, points, regions;
* :mod:`.conditions`: the 15 condition types;
* :mod:`.basic`, :mod:`.images`, :mod:`.flow`, :mod:`.account`: the 41 actions, each with its ``run``;
* :mod:`.routine`: the top-level file model, config params, sentries, the step union.
"""

from emufleet.routines.grammar.base import StepBase
from emufleet.routines.grammar.conditions import CONDITION_TYPES, ConditionBase
from emufleet.routines.grammar.routine import ACTIONS, LOOPS, AnyStep, ConfigParam, RoutineModel, SentrySpec

__all__ = ["ACTIONS", "CONDITION_TYPES", "LOOPS", "AnyStep", "ConditionBase", "ConfigParam", "RoutineModel",
           "SentrySpec", "StepBase"]
