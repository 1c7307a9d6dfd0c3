"""Notifications with pictures under Prefect: which webhook, the bot's wrapped observer, the launch's digest.

Why not a Prefect automation: a ``Webhook`` block's body is a JSON template, it cannot carry a file, and the frame is
on the bot's host anyway. So the bot's process posts its own picture notifications (``bot.gave-up``, ``bot.stuck``,
a routine's ``Notify``) and the launch's process its digest, straight to the webhook, from
:mod:`emufleet.notify`. The webhook is ``EMUFLEET_NOTIFY_WEBHOOK`` of the bot's (or the launch's) process; unset,
nothing is sent. It is not the ``emufleet-webhook`` block of the text automations: a channel that gets both would
get a give-up twice, once as text from the server and once with its picture from the bot.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

import numpy as np

from emufleet import notify
from emufleet.bot.evidence import evidence_dir
from emufleet.notify import NotifyingObserver, WebhookNotifier

if TYPE_CHECKING:
    from emufleet.bot import BotSession
    from emufleet.bot.observer import BotObserver
    from emufleet.groups import BotStatus
    from emufleet.routines.context import MatchScore

__all__ = ["bot_observer", "evidence_dirs", "run_link", "send_digest", "watch_frames"]


def run_link(flow_run_id: UUID | str) -> str | None:
    """The Prefect UI page of a flow run when the UI's URL is known (``PREFECT_UI_URL``)."""
    ui = os.environ.get("PREFECT_UI_URL")
    return f"{ui.rstrip('/')}/runs/flow-run/{flow_run_id}" if ui else None


def bot_observer(observer: BotObserver, flow_run_id: UUID) -> BotObserver:
    """``observer`` wrapped to send picture notifications when a webhook is configured, else ``observer``."""
    url = notify.webhook_url()
    if url is None:
        return observer
    return NotifyingObserver(observer, WebhookNotifier(url), link=run_link(flow_run_id))


def watch_frames(observer: BotObserver, session: BotSession) -> None:
    """Let a :class:`NotifyingObserver` draw ``session``'s current frame (its last capture, its last step's
    template checks); other observers are left alone."""
    if not isinstance(observer, NotifyingObserver):
        return

    def frame() -> tuple[np.ndarray, Sequence[MatchScore]] | None:
        if session.opened is None:  # not connected yet
            return None
        recorder = session.opened.supervisor.recorder
        frames = recorder.frames
        return (frames[-1].image, recorder.scores) if frames else None

    observer.frame_source = frame


async def send_digest(group: str, run_id: UUID, rows: Sequence[BotStatus],
                      bot_runs: dict[int, UUID | None]) -> bool | None:
    """Post the digest of the launch ``run_id`` of ``group`` (its table ``rows``; ``bot_runs``: each bot's flow run,
    where its evidence is). ``None``: no webhook configured; else whether it was delivered. Never raises for a
    failed post (logged)."""
    url = notify.webhook_url()
    if url is None:
        return None
    states = {row.state for row in rows}
    outcome = "failed" if "failed" in states else "stopped" if "stopped" in states else "completed"
    message = notify.digest_message(group, rows, outcome=outcome, evidence=evidence_dirs(group, bot_runs),
                                    link=run_link(run_id))
    return await asyncio.to_thread(WebhookNotifier(url).send_now, message)


def evidence_dirs(group: str, bot_runs: dict[int, UUID | None]) -> dict[int, Path]:
    """Each bot's evidence folder on this host (bot index → folder), found from the bots' flow runs."""
    return {bot: evidence_dir(group, bot, str(run)) for bot, run in bot_runs.items() if run is not None}
