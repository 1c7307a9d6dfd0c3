"""Bot events as Prefect events (provisional: replaced by the events work)."""

from __future__ import annotations

import logging

from prefect.events import emit_event

from emufleet.bot.events import BotEvent

__all__ = ["emit"]

_log = logging.getLogger(__name__)


def emit(event: BotEvent) -> None:
    """Emit ``event`` as ``emufleet.<kind>`` with the bot's flow run, instance, group and account related."""
    bot = event.bot
    ids = {"instance": f"emufleet.instance.{bot.host}/{bot.serial}", "group": f"emufleet.group.{bot.group}"}
    if bot.flow_run_id:
        ids["flow-run"] = f"prefect.flow-run.{bot.flow_run_id}"
    if bot.account:
        ids["account"] = f"emufleet.account.{bot.account}"
    related = [{"prefect.resource.id": rid, "prefect.resource.role": role} for role, rid in ids.items()]
    try:
        emit_event(event=f"emufleet.{event.kind}",
                   resource={"prefect.resource.id": f"emufleet.bot.{bot.group}.{bot.bot}",
                             "prefect.resource.name": f"{bot.group} bot {bot.bot}"},
                   related=related, payload=dict(event.payload))
    except Exception as exc:  # an unreachable server must not fail a bot
        _log.warning("event %s not emitted: %s", event.kind, exc)
