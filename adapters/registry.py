"""Where running groups are found, what their bots display, and how a run is cancelled: the Prefect side.

A running group *is* its flow runs, so the answer is the same from any process or host, and the Prefect UI shows
what the CLI shows. What several writers change while a group runs — operator commands and instance claims — is
not here but in emufleet's database (:mod:`emufleet.control`), written with compare-and-set statements.

* **Which runs belong to a group**: every ``launch-group`` and ``run-bot`` flow run carries the tags
  ``emufleet`` and ``group:<name>`` (set when the run is created or as the launch starts, by that run alone); a
  bot run also carries ``instance:<host>:<serial>``, for display and filtering only.
* **Bot status** (:class:`~emufleet.groups.BotStatus`, the one record of a bot): the labels ``emufleet.*`` of
  the bot's flow run, a read-only display written only by the bot itself (one writer: label patches are
  read-modify-write on the server); the last one says how the bot ended.
* **Stop**: besides the ``stop`` command, the bot's (or the launch's) flow run goes to ``Cancelling`` — the same
  thing the UI's *Cancel* button does — and the launch process's watcher stops the routine within one poll
  (0.5 s) + 100 ms.
"""

from __future__ import annotations

import json
import re
import typing
from contextlib import AbstractContextManager
from typing import Any
from uuid import UUID

from prefect import tags
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.states import Cancelling

from adapters.locks import LIVE_STATES, limit_name
from emufleet.bot import BotSpec
from emufleet.groups import TERMINAL_STATES, BotState, BotStatus

__all__ = ["BOT_FLOW", "BOT_TAG", "LABEL_PREFIX", "LAUNCH_FLOW", "LAUNCH_TAG", "artifact_key", "bot_runs",
           "bot_status", "bot_tags", "final_state", "group_of", "group_tag", "is_cancelled", "launch_runs", "live_runs",
           "request_cancel", "status_labels"]

LAUNCH_FLOW = "launch-group"
BOT_FLOW = "run-bot"
LAUNCH_TAG = "emufleet-launch"  # on every launch-group run (display, filters)
BOT_TAG = "emufleet-bot"  # on every run-bot run started by a launch (tells bots from launches among claimers)
LABEL_PREFIX = "emufleet."


def artifact_key(*parts: object) -> str:
    """A Prefect artifact key from ``parts`` (lowercase letters, digits and dashes: Prefect's rule), e.g.
    ``artifact_key("launch", "My Group")`` → ``"launch-my-group"``."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(str(p) for p in parts).lower()).strip("-") or "emufleet"


def group_tag(group: str) -> str:
    """The tag every flow run of ``group`` carries."""
    return f"group:{group}"


def bot_tags(spec: BotSpec) -> AbstractContextManager[set[str]]:
    """The tags context for starting ``run_bot(spec)`` as a subflow of a launch: ``emufleet``, its group, its
    instance (display) and :data:`BOT_TAG`, set as the run is created."""
    return tags("emufleet", group_tag(spec.group), limit_name(spec.instance), BOT_TAG)


def group_of(run: FlowRun) -> str | None:
    """The group a flow run belongs to (from its ``group:<name>`` tag), or ``None``."""
    prefix = group_tag("")
    return next((t[len(prefix):] for t in run.tags if t.startswith(prefix)), None)


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
    """The flow-run labels that store ``status``: one per field, flat as labels must be (``None`` becomes an empty
    string, a list or a mapping its JSON text)."""
    data = status.model_dump(mode="json")
    return {f"{LABEL_PREFIX}{k}": "" if v is None else json.dumps(v) if isinstance(v, list | dict) else v
            for k, v in data.items()}


def bot_status(run: FlowRun) -> BotStatus | None:
    """The status a bot run last wrote (its labels, :func:`status_labels`), with the Prefect state folded in when
    the process is gone."""
    labels = {k.removeprefix(LABEL_PREFIX): v for k, v in (run.labels or {}).items() if k.startswith(LABEL_PREFIX)}
    if "group" not in labels:
        return None
    data = {k: None if v == "" else json.loads(v) if k in _JSON_FIELDS and isinstance(v, str) else v
            for k, v in labels.items()}
    status = BotStatus.model_validate(data)
    state = run.state
    if state is not None and state.is_final() and status.state not in TERMINAL_STATES:
        # The bot never wrote its final status (killed process, crash): Prefect's state is the truth.
        status = status.model_copy(update={"state": final_state(state)})
    return status


#: The status fields whose labels hold JSON text (lists and mappings).
_JSON_FIELDS = frozenset(name for name, f in BotStatus.model_fields.items()
                         if typing.get_origin(f.annotation) in (list, dict))


def final_state(state: State | None) -> BotState:
    """A bot's end as its run's final Prefect state says: *Completed* → completed, *Cancelled* → stopped,
    anything else (*Failed*, *Crashed*, no state) → failed. The one place this mapping is written."""
    if state is not None and state.is_cancelled():
        return BotState.STOPPED
    return BotState.COMPLETED if state is not None and state.is_completed() else BotState.FAILED


async def is_cancelled(client: PrefectClient, flow_run_id: UUID) -> bool:
    """Whether the run is ``Cancelling`` or ``Cancelled``. A cancelling run can only end ``Cancelled``: Prefect
    rejects any other final state and the run would stay *Cancelling* for ever (``EnforceCancellingToCancelled``)."""
    run = await client.read_flow_run(flow_run_id)
    return run.state is not None and run.state.type in (StateType.CANCELLING, StateType.CANCELLED)


async def request_cancel(client: PrefectClient, flow_run_id: UUID, message: str) -> None:
    """Move a flow run to ``Cancelling`` (what the UI's *Cancel* does); its launch process stops it."""
    await client.set_flow_run_state(flow_run_id, Cancelling(message=message), force=True)
