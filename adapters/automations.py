"""Notifications and zombie clean-up as Prefect automations shipped as code (``emufleet automations apply``).

The automations (names start with ``emufleet:``; applying again updates them by name, never duplicates):

* **bot gave up**: reactive, on ``emufleet.bot.gave-up``.
* **bot run failed or crashed**: reactive, on ``prefect.flow-run.Failed`` / ``prefect.flow-run.Crashed`` of a
  ``run-bot`` flow run.
* **quarantined**: reactive, on ``emufleet.instance.quarantined`` and ``emufleet.account.quarantined`` (the farm's
  quarantine rule took an instance or an account out of service, docs/farm.md); the message says why.
* **bot made no progress**: proactive, per bot resource: after ``emufleet.bot.started`` (or a sampled
  ``emufleet.bot.step-completed``, or ``emufleet.bot.resumed``) it expects another step, or the bot's end
  (``finished``, ``gave-up``) or a pause, within ``stall_after`` (default 10 minutes).
* **crash zombie runs**: Prefect's documented zombie-flow pattern (docs.prefect.io, "Detect zombie flows") on
  Prefect's *own* flow-run heartbeats: the flow engine emits ``prefect.flow-run.heartbeat`` for every flow run,
  in-process subflows included (Prefect ≥ 3.6.22; every ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` s, default 180,
  minimum 30). After a heartbeat of an ``emufleet``-tagged run, any event of that run is expected within
  ``zombie_after``; when none comes (its process was killed) the run is set to ``Crashed``. ``zombie_after`` must
  cover several heartbeats of the processes running the flows (:func:`default_zombie_after`: 3 of them).
* **crash zombie launches**: the same for ``launch-group`` runs, matched by their flow's name (a launch run started
  from Python is created without the ``emufleet`` tag its heartbeats would need).

Notification actions: a Prefect ``Webhook`` block called with a Discord-compatible JSON body ``{"content": …}``
(:data:`WEBHOOK_BLOCK` is created by :func:`save_webhook_block`), or any Prefect notification block (Slack,
Teams, e-mail, …) through ``SendNotification``. Messages name the bot, the instance, the account, the reason and
link to the bot's Event Feed when the server knows its UI URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal
from uuid import UUID

from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ActionTypesOrUnknown, CallWebhook, ChangeFlowRunState, SendNotification
from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.settings import get_current_settings
from prefect.types import SecretDict
from pydantic import SecretStr

from adapters.registry import BOT_FLOW, LAUNCH_FLOW
from emufleet.bot.events import EventKind
from emufleet.errors import InputError

__all__ = ["PREFIX", "WEBHOOK_BLOCK", "Notify", "apply_automations", "default_zombie_after", "discord_payload",
           "emufleet_automations", "ensure_zombie_automations", "remove_automations", "resolve_block",
           "save_webhook_block"]

PREFIX = "emufleet: "
WEBHOOK_BLOCK = "emufleet-webhook"
DEFAULT_STALL_AFTER = timedelta(minutes=10)


def _event(kind: EventKind) -> str:
    return f"emufleet.{kind.value}"


@dataclass(frozen=True, slots=True)
class Notify:
    """Where notifications go: a block document id and how to call it (``"webhook"``: a ``Webhook`` block called
    with a Discord-compatible body; ``"notification"``: a notification block's ``notify``)."""

    block_document_id: UUID
    kind: Literal["webhook", "notification"]


def default_zombie_after() -> timedelta | None:
    """Three flow-run heartbeats at this process's ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (``None``: heartbeats
    are off, so there is nothing to detect zombies with)."""
    frequency = get_current_settings().flows.heartbeat_frequency
    return None if frequency is None else timedelta(seconds=3 * max(frequency, 30))


# Message templates (Jinja, rendered by the Prefect server; `event` is the triggering or, for proactive triggers,
# the last seen event). The bot's own resource carries its name and instance; related resources give the rest.
_LINK = ("{% set link = event.resource|ui_resource_events_url %}{% if link %}\nEvent Feed: {{ link }}{% endif %}")
_ACCOUNT = ("{% set acct = event.resource_in_role.get('account') %}"
            "{% if acct %}, account {{ acct.name }}{% endif %}")
_GAVE_UP = ("emufleet: {{ event.resource.name }} gave up on {{ event.resource.get('emufleet.instance') }}"
            + _ACCOUNT + ": {{ event.payload.get('reason') or 'no reason given' }}"
            "{% if event.payload.get('failures') %} ({{ event.payload.failures }} failures){% endif %}" + _LINK)
_RUN_ENDED = ("emufleet: bot run {{ event.resource.name }} is {{ event.resource.get('prefect.state-name') }}"
              "{% set msg = event.resource.get('prefect.state-message') %}{% if msg %}: {{ msg }}{% endif %}"
              "{% set link = flow_run|ui_url %}{% if link %}\n{{ link }}{% endif %}")
_STALLED = ("emufleet: {{ event.resource.name }} on {{ event.resource.get('emufleet.instance') }}" + _ACCOUNT
            + " completed no step for <STALL>"
            "{% if event.payload.get('step') %} (last: {{ event.payload.step }}){% endif %}" + _LINK)
_QUARANTINED = ("emufleet: {{ event.event.split('.')[1] }} {{ event.resource.name }} quarantined: "
                "{{ event.payload.get('reason') or 'no reason given' }}"
                "{% if event.event == 'emufleet.instance.quarantined' and event.payload.get('cooldown_until') %}"
                " (health check after {{ event.payload.cooldown_until }}){% endif %}"
                "{% if event.event == 'emufleet.account.quarantined' %} (marked failed until a reset or a release)"
                "{% endif %}" + _LINK)


def _human(duration: timedelta) -> str:
    seconds = round(duration.total_seconds())
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def discord_payload(message_template: str) -> str:
    """The webhook body template: ``{"content": <message>}`` with the rendered message JSON-escaped, cut to
    Discord's 2,000 characters."""
    return ("{% set message %}" + message_template + "{% endset %}"
            '{"content": {{ message[:2000] | tojson }}}')


def _actions(notify: Notify, message: str, subject: str) -> list[ActionTypesOrUnknown]:
    if notify.kind == "webhook":
        return [CallWebhook(block_document_id=notify.block_document_id, payload=discord_payload(message))]
    return [SendNotification(block_document_id=notify.block_document_id, subject=subject, body=message)]


def emufleet_automations(notify: Notify | None, *, stall_after: timedelta = DEFAULT_STALL_AFTER,
                         zombie_after: timedelta | None = None, prefix: str = PREFIX,
                         tag: str = "emufleet", launch_runs: str = "*") -> list[AutomationCore]:
    """The shipped automations: the four notifications when ``notify`` is given, and the two zombie clean-ups
    when ``zombie_after`` is (see the module docstring). ``prefix`` starts their names; ``tag`` is the flow-run tag
    the zombie clean-up of bot runs is limited to (every emufleet run carries ``emufleet``); ``launch_runs`` the
    names of the ``launch-group`` runs the other one watches (``*``: all; a trailing ``*`` matches a prefix)."""
    out: list[AutomationCore] = []
    bots = ResourceSpecification({"prefect.resource.id": "emufleet.bot.*"})
    if notify is not None:
        out.append(AutomationCore(
            name=prefix + "bot gave up",
            description="A bot spent its failure budget or its last recovery rung; its account went back.",
            trigger=EventTrigger(expect={_event(EventKind.GAVE_UP)}, match=bots, posture=Posture.Reactive,
                                 threshold=1, within=timedelta(0)),
            actions=_actions(notify, _GAVE_UP, "emufleet: a bot gave up")))
        out.append(AutomationCore(
            name=prefix + "bot run failed or crashed",
            description=f"A {BOT_FLOW} flow run ended Failed or Crashed.",
            trigger=EventTrigger(
                expect={"prefect.flow-run.Failed", "prefect.flow-run.Crashed"},
                match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
                match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                     "prefect.resource.name": BOT_FLOW}),
                posture=Posture.Reactive, threshold=1, within=timedelta(0)),
            actions=_actions(notify, _RUN_ENDED, "emufleet: a bot run failed")))
        out.append(AutomationCore(
            name=prefix + "quarantined",
            description="The farm's quarantine rule took an instance or an account out of service.",
            trigger=EventTrigger(expect={"emufleet.instance.quarantined", "emufleet.account.quarantined"},
                                 match=ResourceSpecification({"prefect.resource.id": ["emufleet.instance.*",
                                                                                      "emufleet.account.*"]}),
                                 posture=Posture.Reactive, threshold=1, within=timedelta(0)),
            actions=_actions(notify, _QUARANTINED, "emufleet: quarantined")))
        out.append(AutomationCore(
            name=prefix + "bot made no progress",
            description=f"A running bot completed no step for {stall_after}.",
            trigger=EventTrigger(
                after={_event(EventKind.STARTED), _event(EventKind.STEP_COMPLETED), _event(EventKind.RESUMED)},
                expect={_event(EventKind.STEP_COMPLETED), _event(EventKind.FINISHED), _event(EventKind.GAVE_UP),
                        _event(EventKind.PAUSED)},
                match=bots, for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1,
                within=stall_after),
            actions=_actions(notify, _STALLED.replace("<STALL>", _human(stall_after)),
                             "emufleet: a bot made no progress")))
    if zombie_after is not None:
        out.append(AutomationCore(
            name=prefix + "crash zombie runs",
            description=f"A flow run tagged {tag!r} sent no heartbeat for {zombie_after}: its process is gone.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
                match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*"}),
                match_related=ResourceSpecification({"prefect.resource.id": f"prefect.tag.{tag}",
                                                     "prefect.resource.role": "tag"}),
                for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1, within=zombie_after),
            actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                        message=f"emufleet: no flow-run heartbeat for {zombie_after}; "
                                                "its process is gone")]))
        # A launch run's heartbeats carry the tags it was created with, and a launch started from Python or the
        # console is created untagged (the flow tags itself as it starts, after Prefect has fixed its heartbeat's
        # content): it is matched by its flow's name instead.
        out.append(AutomationCore(
            name=prefix + "crash zombie launches",
            description=f"A {LAUNCH_FLOW} flow run sent no heartbeat for {zombie_after}: its process is gone.",
            trigger=EventTrigger(
                after={"prefect.flow-run.heartbeat"}, expect={"prefect.flow-run.*"},
                match=ResourceSpecification({"prefect.resource.id": "prefect.flow-run.*",
                                             "prefect.resource.name": launch_runs}),
                match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                     "prefect.resource.name": LAUNCH_FLOW}),
                for_each={"prefect.resource.id"}, posture=Posture.Proactive, threshold=1, within=zombie_after),
            actions=[ChangeFlowRunState(state=StateType.CRASHED,
                                        message=f"emufleet: no flow-run heartbeat for {zombie_after}; "
                                                "the launch process is gone")]))
    return out


async def ensure_zombie_automations(logger: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Create the zombie clean-ups unless they exist (``emufleet automations apply`` may have tuned them): if a
    launch's process is killed, its runs end ``Crashed`` once their flow-run heartbeats stop, instead of staying
    *Running* (docs/supervision.md "Zombie runs"). Its own client: it runs beside a launch's phases and may
    outlive a launch that failed in them. Never raises (an older server without automations must not stop a
    launch): a failure is logged."""
    zombie_after = default_zombie_after()
    if zombie_after is None:
        return
    try:
        async with get_client() as client:
            missing = [a for a in emufleet_automations(None, zombie_after=zombie_after)
                       if not await client.read_automations_by_name(a.name)]
            if missing:
                await apply_automations(client, missing)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        logger.warning("zombie-run automations not applied: %s", exc)


async def save_webhook_block(url: str, name: str = WEBHOOK_BLOCK) -> Notify:
    """Create or overwrite the ``Webhook`` block ``name`` (POST, JSON) for ``url``; the Notify that calls it."""
    block = Webhook(method="POST", url=SecretStr(url), headers=SecretDict({"Content-Type": "application/json"}))
    block_id = await block.asave(name, overwrite=True)
    return Notify(block_id, "webhook")


async def resolve_block(client: PrefectClient, name: str) -> Notify:
    """The block named ``name`` (``<block-type-slug>/<name>`` or a bare name, unique among blocks): a ``webhook``
    block is called with a Discord body, any other must be a notification block. Raises ``InputError`` (field
    ``block``: no such block, several of that name, or a block that cannot notify)."""
    slug, _, bare = name.rpartition("/")
    documents = [d for d in await client.read_block_documents() if d.name == bare
                 and (not slug or (d.block_type is not None and d.block_type.slug == slug))]
    if not documents:
        raise InputError(f"no Prefect block named {name!r} (see `prefect block ls`)", field="block")
    if len(documents) > 1:
        kinds = ", ".join(f"{d.block_type.slug}/{d.name}" for d in documents if d.block_type)
        raise InputError(f"several blocks are named {bare!r} ({kinds}): give <block-type-slug>/<name>",
                         field="block")
    document = documents[0]
    if document.block_type is not None and document.block_type.slug == "webhook":
        return Notify(document.id, "webhook")
    capabilities = document.block_schema.capabilities if document.block_schema else []
    if "notify" not in capabilities:
        raise InputError(f"block {name!r} is neither a webhook nor a notification block", field="block")
    return Notify(document.id, "notification")


async def apply_automations(client: PrefectClient, automations: list[AutomationCore]) -> list[tuple[str, str]]:
    """Create each automation, or update the one with its name (extra copies of a name are deleted).

    Returns ``(name, "created" | "updated")`` per automation.
    """
    done = []
    for automation in automations:
        existing = await client.read_automations_by_name(automation.name)
        if existing:
            await client.update_automation(existing[0].id, automation)
            for extra in existing[1:]:
                await client.delete_automation(extra.id)
            done.append((automation.name, "updated"))
        else:
            await client.create_automation(automation)
            done.append((automation.name, "created"))
    return done


async def remove_automations(client: PrefectClient, prefix: str = PREFIX) -> list[str]:
    """Delete every automation whose name starts with ``prefix``; their names, sorted."""
    doomed = [a for a in await client.read_automations() if a.name.startswith(prefix)]
    for automation in doomed:
        await client.delete_automation(automation.id)
    return sorted(a.name for a in doomed)
