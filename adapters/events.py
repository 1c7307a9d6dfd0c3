"""Bot events on the Prefect event bus: :func:`emit` maps an engine :class:`~emufleet.bot.events.BotEvent` onto
``prefect.events.emit_event``.

Shape of every event (docs/supervision.md, "Events"):

* name ``emufleet.<kind>``, e.g. ``emufleet.bot.stuck``, ``emufleet.instance.unhealthy``;
* primary resource the bot, ``emufleet.bot.<group>.<bot>`` (name ``<group>/bot-<bot>``, labels ``emufleet.group``,
  ``emufleet.bot``, ``emufleet.instance``);
* related resources, each with its role: the bot's flow run ``prefect.flow-run.<id>`` (``flow-run``), the instance
  ``emufleet.instance.<host>/<serial>`` (``instance``), the group ``emufleet.group.<name>`` (``group``) and the
  account ``emufleet.account.<name>`` (``account``), when known;
* payload the event's flat payload; ``occurred`` the event's own time.

**It never raises and never blocks**: ``emit_event`` only queues the event for Prefect's events worker thread, whose
websocket client keeps every event it sent until the server confirms it and resends them after a reconnection (a
server that is down for minutes loses nothing while the process lives). What would still fail (an oversized event,
a broken client) is logged and dropped: an unreachable server must never fail a bot.

:func:`latest_events` reads the other way: the newest event of a name per flow run (the console's ``/metrics``
reads each live bot's last ``bot.heartbeat``, whose payload carries the bot's metrics: :mod:`emufleet.bot.metrics`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.events import Event, emit_event
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter, EventRelatedFilter
from prefect.events.schemas.events import ReceivedEvent
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from emufleet.bot.events import BotEvent, BotRef, Payload
from emufleet.hosts import InstanceId

__all__ = ["account_resource_id", "bot_resource_id", "emit", "group_resource_id", "instance_resource_id",
           "latest_events", "prefect_event"]

logger = logging.getLogger("emufleet.events")

_MAX_TEXT = 2000  # characters per payload string: error messages and tracebacks are cut, never the event


def bot_resource_id(group: str, bot: int) -> str:
    """``emufleet.bot.<group>.<bot>``: the primary resource of a bot's events (what automations bucket on)."""
    return f"emufleet.bot.{group}.{bot}"


def instance_resource_id(instance: InstanceId) -> str:
    """``emufleet.instance.<host>/<serial>``: an instance is identified by host + serial."""
    return f"emufleet.instance.{instance.key}"


def group_resource_id(group: str) -> str:
    return f"emufleet.group.{group}"


def account_resource_id(account: str) -> str:
    return f"emufleet.account.{account}"


def _related(bot: BotRef) -> list[dict[str, str]]:
    related = []
    if bot.flow_run_id:
        related.append({"prefect.resource.id": f"prefect.flow-run.{bot.flow_run_id}",
                        "prefect.resource.role": "flow-run"})
    related.append({"prefect.resource.id": instance_resource_id(bot.instance),
                    "prefect.resource.role": "instance", "prefect.resource.name": bot.instance.key})
    related.append({"prefect.resource.id": group_resource_id(bot.group), "prefect.resource.role": "group",
                    "prefect.resource.name": bot.group})
    if bot.account:
        related.append({"prefect.resource.id": account_resource_id(bot.account), "prefect.resource.role": "account",
                        "prefect.resource.name": bot.account})
    return related


def _payload(payload: Payload) -> Payload:
    return {k: (v[:_MAX_TEXT] + "…" if isinstance(v, str) and len(v) > _MAX_TEXT else v) for k, v in payload.items()}


def prefect_event(event: BotEvent) -> dict[str, Any]:
    """The keyword arguments of ``prefect.events.emit_event`` for ``event`` (what :func:`emit` sends)."""
    bot = event.bot
    return {
        "event": event.name,
        "resource": {"prefect.resource.id": bot_resource_id(bot.group, bot.bot),
                     "prefect.resource.name": f"{bot.group}/bot-{bot.bot}",
                     "emufleet.group": bot.group, "emufleet.bot": str(bot.bot),
                     "emufleet.instance": bot.instance.key},
        "related": _related(bot),
        "payload": _payload(event.payload),
        "occurred": dt.datetime.fromtimestamp(event.time, dt.UTC),
    }


def emit(event: BotEvent) -> Event | None:
    """Send ``event`` to the Prefect server in ``PREFECT_API_URL`` (queued; see the module docstring).

    Safe from any thread: a thread started without Prefect's context sees only the settings Prefect read at import,
    which may lack the API URL; Prefect would then start an *ephemeral* server inside ``emit_event`` (measured: 31 s
    blocked, event lost). So the URL falls back to ``PREFECT_API_URL`` from the environment, and with no API at all
    the event is dropped (emufleet never uses ephemeral mode). Returns the Prefect event queued, or ``None`` when it
    was dropped. Never raises.
    """
    try:
        if get_current_settings().api.url:
            return emit_event(**prefect_event(event))
        url = os.environ.get("PREFECT_API_URL")
        if not url:
            _drop(event, "no Prefect API (PREFECT_API_URL is not set)")
            return None
        with temporary_settings(updates={PREFECT_API_URL: url}):
            return emit_event(**prefect_event(event))
    except Exception as exc:  # EventTooLarge (emit_event re-raises it) or anything else: log, drop, keep the bot
        _drop(event, str(exc))
        return None


def _drop(event: BotEvent, why: str) -> None:
    logger.warning("event %s of %s/bot-%s dropped: %s", event.name, event.bot.group, event.bot.bot, why)


PAGE = 50  # events per page (the server's maximum)


async def latest_events(client: PrefectClient, kind: str, flow_run_ids: Iterable[UUID], *, within_s: float = 60.0,
                        max_pages: int = 20) -> dict[UUID, ReceivedEvent]:
    """The newest ``emufleet.<kind>`` event of each flow run in ``flow_run_ids`` that had one in the last
    ``within_s`` seconds (newest first, page by page, until every run is found or ``max_pages`` are read).
    Raises what the client raises (``httpx.HTTPError``, ``PrefectHTTPStatusError``)."""
    wanted = {f"prefect.flow-run.{run_id}": run_id for run_id in flow_run_ids}
    if not wanted:
        return {}
    now = dt.datetime.now(dt.UTC)
    # ``until`` a little ahead: a bot on another host whose clock runs fast must still be read
    # validated from plain datetimes (the fields are Prefect's DateTime subclass, which validation makes)
    window = EventOccurredFilter.model_validate({"since": now - dt.timedelta(seconds=within_s),
                                                 "until": now + dt.timedelta(minutes=5)})
    query = EventFilter(occurred=window, event=EventNameFilter(name=[f"emufleet.{kind}"]),
                        related=EventRelatedFilter(id=list(wanted)))
    found: dict[UUID, ReceivedEvent] = {}
    page = await client.read_events(query, limit=PAGE)
    for _ in range(max_pages):
        for event in page.events:  # newest first (the filter's default order)
            for run in (wanted.get(r.id) for r in event.related):
                if run is not None and run not in found:
                    found[run] = event
        if len(found) == len(wanted):
            break
        next_page = await page.get_next_page(client)
        if next_page is None:
            break
        page = next_page
    return found
