"""The routine engine: the seed's YAML grammar validated at load, and its interpreter (digest §1–§3).

Usage::

    from emufleet.routines import RoutineRegistry, BotContext, Controller, RoutineRun, StepEvent
    reg = RoutineRegistry.load("routines", templates=ts)        # key = relative path without extension
    ctx = BotContext(device, ts, reg, Controller(), {}, accounts=None, on_event=print, bot_id="bot-1")
    RoutineRun(reg.get("demo/reach_home"), ctx, overrides={"k": "v"}).run()

Modules: :mod:`.grammar` (pydantic models of the 41 actions and 15 conditions, each action's ``run``),
:mod:`.loader` (one file → routine or located errors), :mod:`.registry` (a folder, cross-file checks),
:mod:`.durations`, :mod:`.variables`, :mod:`.control` (pause/resume/stop), :mod:`.context` (bot context,
frame cache, step events), :mod:`.executor` (the interpreter), :mod:`.run` (config + sentries + steps),
:mod:`.sentries`, :mod:`.accounts` (the pools interface). The grammar reference is ``docs/routines.md``.
"""

from emufleet.routines.accounts import AccountProvider, AccountRef, AccountResult
from emufleet.routines.context import BotContext, MatchScore, StepEvent
from emufleet.routines.control import Controller
from emufleet.routines.grammar import ACTIONS, CONDITION_TYPES
from emufleet.routines.loader import Routine, load_routine, read_routine
from emufleet.routines.registry import RoutineRegistry
from emufleet.routines.run import RoutineRun, apply_config
from emufleet.routines.sentries import SentryManager, SentryOutcome
from emufleet.routines.variables import VariableStore

__all__ = [
    "ACTIONS",
    "CONDITION_TYPES",
    "AccountProvider",
    "AccountRef",
    "AccountResult",
    "BotContext",
    "Controller",
    "MatchScore",
    "Routine",
    "RoutineRegistry",
    "RoutineRun",
    "SentryManager",
    "SentryOutcome",
    "StepEvent",
    "VariableStore",
    "apply_config",
    "load_routine",
    "read_routine",
]
