"""Where running groups are found and how bots are told to pause: all of it on the Prefect server.

emufleet keeps no runtime state of its own (no table, no pid file): a running group *is* its flow runs, so the
answer is the same from any process or host, and the Prefect UI shows what the CLI shows.

* **Which runs belong to a group**: every ``launch-group`` and ``run-bot`` flow run carries the tags
  ``emufleet`` and ``group:<name>``; a bot run also carries its claim tag ``instance:<host>:<serial>``.
* **Bot status** (:class:`~emufleet.groups.BotStatus`): the labels ``emufleet.*`` of the bot's flow run, written
  only by the bot itself (one writer: label patches are read-modify-write on the server).
* **Pause / resume commands**: one Prefect Variable per launch run, ``emufleet_ctl_<launch run id>``, holding the
  *desired* state ``{"group": "running"|"paused", "bots": {"<bot>": "running"|"paused"}}``; the launch process
  polls it. Desired state (not a queue of events) is idempotent, survives a missed poll, and never races with
  status writes. The variable is deleted when the launch run ends.
* **Operator recoveries** (*Restart app*, *Restart instance*): the same variable's ``"commands"``,
  ``{"<bot>": {"seq": n, "rung": "restart_app"|"restart_instance"|…}}``; a one-shot command is a sequence number
  that grows, so the watcher takes each one once (:attr:`adapters.runtime.BotHandle.command_seq`) and a missed
  poll still sees the newest; the bot takes the rung through its own recovery ladder
  (:meth:`emufleet.bot.session.BotSession.request_recovery`).
* **Stop**: the bot's (or the launch's) flow run goes to ``Cancelling`` — the same thing the UI's *Cancel*
  button does — and the launch process's watcher stops the routine within one poll (0.5 s) + 100 ms.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.actions import VariableCreate, VariableUpdate
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectAlreadyExists
from prefect.states import Cancelling

from adapters.locks import LIVE_STATES
from emufleet.groups import BotState, BotStatus

__all__ = ["BOT_FLOW", "LABEL_PREFIX", "LAUNCH_FLOW", "Desired", "artifact_key", "bot_runs", "bot_status",
           "control_variable", "group_of", "group_tag", "is_cancelled", "launch_runs", "live_runs", "read_desired",
           "request_cancel", "status_labels", "write_command", "write_desired"]

LAUNCH_FLOW = "launch-group"
BOT_FLOW = "run-bot"
LABEL_PREFIX = "emufleet."
Desired = Literal["running", "paused"]


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key from ``parts`` (lowercase letters, digits and dashes: Prefect's rule), e.g.
    ``artifact_key("launch", "My Group")`` → ``"launch-my-group"``."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-") or "emufleet"


def group_tag(group: str) -> str:
    """The tag every flow run of ``group`` carries."""
    return f"group:{group}"


def group_of(run: FlowRun) -> str | None:
    """The group a flow run belongs to (from its ``group:<name>`` tag), or ``None``."""
    prefix = group_tag("")
    return next((t[len(prefix):] for t in run.tags if t.startswith(prefix)), None)


def control_variable(launch_run_id: UUID) -> str:
    """Name of the Prefect Variable holding the desired pause state of one launch run's bots."""
    return f"emufleet_ctl_{launch_run_id.hex}"


def _filters(flows: list[str], tags: list[str], live: bool) -> dict[str, Any]:
    state = FlowRunFilterState(type=FlowRunFilterStateType(any_=LIVE_STATES)) if live else None
    return {"flow_filter": FlowFilter(name=FlowFilterName(any_=flows)),
            "flow_run_filter": FlowRunFilter(tags=FlowRunFilterTags(all_=tags), state=state),
            "sort": FlowRunSort.START_TIME_DESC}


async def _runs(client: PrefectClient, flow_name: str, group: str, live: bool, limit: int) -> list[FlowRun]:
    return await client.read_flow_runs(**_filters([flow_name], [group_tag(group)], live), limit=limit)


async def live_runs(client: PrefectClient, *, page: int = 200) -> list[FlowRun]:
    """Every live ``launch-group`` and ``run-bot`` flow run of any group, newest first (read in pages of ``page``,
    the API's maximum)."""
    out: list[FlowRun] = []
    while True:
        runs = await client.read_flow_runs(**_filters([LAUNCH_FLOW, BOT_FLOW], ["emufleet"], True), limit=page,
                                           offset=len(out))
        out += runs
        if len(runs) < page:
            return out


async def launch_runs(client: PrefectClient, group: str, *, live: bool = True, limit: int = 50) -> list[FlowRun]:
    """``launch-group`` flow runs of ``group`` (live ones only by default), newest first."""
    return await _runs(client, LAUNCH_FLOW, group, live, limit)


async def bot_runs(client: PrefectClient, group: str, *, live: bool = True, limit: int = 200) -> list[FlowRun]:
    """``run-bot`` flow runs of ``group`` (live ones only by default), newest first."""
    return await _runs(client, BOT_FLOW, group, live, limit)


def status_labels(status: BotStatus) -> dict[str, Any]:
    """The flow-run labels that store ``status`` (``None`` fields become empty strings)."""
    data = status.model_dump(mode="json")
    return {f"{LABEL_PREFIX}{k}": ("" if v is None else v) for k, v in data.items()}


def bot_status(run: FlowRun) -> BotStatus | None:
    """The status a bot run last wrote, with the Prefect state folded in when the process is gone."""
    labels = {k.removeprefix(LABEL_PREFIX): v for k, v in (run.labels or {}).items() if k.startswith(LABEL_PREFIX)}
    if "group" not in labels:
        return None
    status = BotStatus.model_validate({k: (None if v == "" else v) for k, v in labels.items()})
    state = run.state
    if state is not None and state.is_final() and status.state not in (BotState.STOPPED, BotState.FAILED,
                                                                       BotState.COMPLETED):
        # The bot never wrote its final status (killed process, crash): Prefect's state is the truth.
        final = BotState.COMPLETED if state.is_completed() else (
            BotState.STOPPED if state.is_cancelled() else BotState.FAILED)
        status = status.model_copy(update={"state": final})
    return status


async def read_desired(client: PrefectClient, launch_run_id: UUID) -> dict[str, Any]:
    """The desired pause state of a launch run's bots (``{"group": …, "bots": {…}}``); empty when never set."""
    variable = await client.read_variable_by_name(control_variable(launch_run_id))
    return dict(variable.value) if variable is not None and isinstance(variable.value, dict) else {}


async def _write_control(client: PrefectClient, launch_run_id: UUID, value: dict[str, Any], exists: bool) -> None:
    name = control_variable(launch_run_id)
    if exists:
        await client.update_variable(VariableUpdate(name=name, value=value))
        return
    try:
        await client.create_variable(VariableCreate(name=name, value=value, tags=["emufleet"]))
    except ObjectAlreadyExists:
        await client.update_variable(VariableUpdate(name=name, value=value))


async def write_desired(client: PrefectClient, launch_run_id: UUID, desired: Desired, bot: int | None) -> None:
    """Set the desired state of one bot (``bot``) or of the whole launch (``bot=None``, which clears per-bot ones)."""
    current = await read_desired(client, launch_run_id)
    bots = dict(current.get("bots", {}))
    if bot is None:
        value: dict[str, Any] = {**current, "group": desired, "bots": {}}
    else:
        bots[str(bot)] = desired
        value = {**current, "group": current.get("group", "running"), "bots": bots}
    await _write_control(client, launch_run_id, value, bool(current))


async def write_command(client: PrefectClient, launch_run_id: UUID, bot: int, rung: str) -> int:
    """Ask bot ``bot`` of a launch run to take recovery rung ``rung`` once; returns the command's sequence number."""
    current = await read_desired(client, launch_run_id)
    commands = dict(current.get("commands", {}))
    seq = int((commands.get(str(bot)) or {}).get("seq", 0)) + 1
    commands[str(bot)] = {"seq": seq, "rung": rung}
    await _write_control(client, launch_run_id, {"group": "running", "bots": {}, **current, "commands": commands},
                         bool(current))
    return seq


async def is_cancelled(client: PrefectClient, flow_run_id: UUID) -> bool:
    """Whether the run is ``Cancelling`` or ``Cancelled``. A cancelling run can only end ``Cancelled``: Prefect
    rejects any other final state and the run would stay *Cancelling* for ever (``EnforceCancellingToCancelled``)."""
    run = await client.read_flow_run(flow_run_id)
    return run.state is not None and run.state.type in (StateType.CANCELLING, StateType.CANCELLED)


async def request_cancel(client: PrefectClient, flow_run_id: UUID, message: str) -> None:
    """Move a flow run to ``Cancelling`` (what the UI's *Cancel* does); its launch process stops it."""
    await client.set_flow_run_state(flow_run_id, Cancelling(message=message), force=True)
